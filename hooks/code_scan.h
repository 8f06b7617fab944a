// code_scan.h — scans interpreter one-liners (python -c, node -e, perl -e, ruby -e, php -r, awk
// programs, and heredoc bodies fed to them) for what matters to the permission gate:
//   - shell-outs (os.system, subprocess.*, child_process.exec*, system, exec, backticks, %x{},
//     IO.popen, shell_exec, awk system() ...): a string-literal argument is returned as shell text
//     to be parsed; a list literal (["rm","-rf","/"]) is returned as an argv; anything else is
//     reported as dynamic (the gate asks);
//   - file deletion calls (shutil.rmtree, os.remove, fs.rmSync, unlink, FileUtils.rm_rf ...),
//     returned as a delete action with its target literal (or unresolved) and recursion flag;
//   - fork loops.
// It is a lexical scanner, not a parser: it never throws, is linear in the input (bounded by
// max_actions), and errs on the side of reporting.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::hooks {

enum class CodeLang { Python, Node, Perl, Ruby, Php, Awk };

struct CodeAction {
  enum class Kind { Shell, Argv, Delete, Dynamic, ForkLoop };
  Kind kind = Kind::Dynamic;
  std::string text;  // Shell: the command line; Dynamic/ForkLoop: what was seen
  std::vector<std::pair<std::string, bool>> argv;  // Argv: (text, resolved)
  bool recursive = false;                          // Delete
  std::string target;                              // Delete: path ("~" for home expressions)
  bool target_resolved = false;                    // Delete
};

std::vector<CodeAction> scan_code(std::string_view code, CodeLang lang,
                                  std::size_t max_actions = 64);

}  // namespace keel::hooks
