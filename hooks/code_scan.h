// code_scan.h — scans interpreter one-liners (python -c, node -e, perl -e, ruby -e, php -r, awk
// programs, and heredoc bodies fed to them) for what matters to the permission gate:
//   - shell-outs (os.system, subprocess.*, child_process.exec*, system, exec, backticks, %x{},
//     IO.popen, shell_exec, awk system() ...): a string-literal argument is returned as shell text
//     to be parsed; a list literal (["rm","-rf","/"]) is returned as an argv; anything else is
//     reported as dynamic (the gate asks);
//   - file deletion calls (shutil.rmtree, os.remove, fs.rmSync, unlink, FileUtils.rm_rf ...),
//     returned as a delete action with its target literal (or unresolved) and recursion flag;
//   - file reads with a literal path (open('.env'), fs.readFileSync, File.read ...), returned as
//     a read action so that the secrets rules see them;
//   - Python module aliases are followed (import os as o; from subprocess import run;
//     __import__('os')), and code run by exec/eval/require that is not a literal is dynamic;
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

enum class CodeLang { Python, Node, Perl, Ruby, Php, Awk, Lua, R, AppleScript };

struct CodeAction {
  enum class Kind { Shell, Argv, Delete, Read, Dynamic, ForkLoop };
  Kind kind = Kind::Dynamic;
  std::string text;  // Shell: the command line; Dynamic/ForkLoop: what was seen
  std::vector<std::pair<std::string, bool>> argv;  // Argv: (text, resolved)
  bool recursive = false;                          // Delete
  std::string target;                              // Delete/Read: path ("~" for home expressions)
  bool target_resolved = false;                    // Delete/Read
};

std::vector<CodeAction> scan_code(std::string_view code, CodeLang lang,
                                  std::size_t max_actions = 64);

}  // namespace keel::hooks
