// shell_parser.h — a bounded POSIX-shell (bash-flavoured) command-line analyser for the
// permission gate.
//
// parse_shell(text) turns one command line into a flat list of simple commands: every command
// the line would run, at any nesting level (lists, pipelines, subshells, groups, $( ), ` `,
// <( ), >( ), bash -c strings, heredocs and here-strings fed to shells, eval of literal text,
// ssh remote commands, find -exec, xargs, inline aliases, function bodies, string literals that
// python/node/perl/ruby one-liners hand to a shell, ...). For each command:
//   - argv is the *effective* argv after quote removal, brace expansion and wrapper unwrapping
//     (sudo/env/nice/timeout/xargs/... are listed in `wrappers`, outermost first);
//   - name is the lower-cased basename of argv[0] ("/usr/bin/RM" → "rm"), empty when argv[0] is
//     not statically known (variables, substitutions, globs, non-ASCII); then unresolved_name is
//     set and the gate must ask or deny, never allow;
//   - every Word says whether it is fully resolved (no $var, $( ), globs ...).
// Things that cannot be resolved at all (code read from a pipe, eval of a variable, curl | sh,
// base64 -d | sh, ...) are reported as Findings.
//
// Guarantees: never throws on any input, never recurses deeper than limits.max_depth, stops
// producing output after limits.max_commands / limits.max_words (setting complete=false and a
// Finding), and runs in time roughly linear in the input (inputs over limits.max_input bytes are
// not parsed; a TooLarge finding is returned). Syntax errors produce a ParseError finding plus
// whatever was understood.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks {

struct Word {
  std::string text;        // value after quote removal; unresolved parts kept as written ("$X")
  bool resolved = true;    // every part statically known
  bool glob = false;       // contains an unquoted * ? or [..]
  bool quoted = false;     // some part was quoted or escaped
  bool non_ascii = false;  // contains bytes >= 0x80 (after stripping zero-width characters)
  bool proc_subst = false; // the word is a process substitution <( ) / >( )
  bool has_subst = false;  // contains $( ), ` ` or a process substitution
  bool temp_path = false;  // contains a variable bound to mktemp's output (a fresh file name)
  std::vector<std::string> subst_names;  // names of the commands run by those substitutions
  std::string subst_source;              // source text of the first substitution body
  int subst_begin = -1;  // [subst_begin, subst_end): indices in Script::commands of the
  int subst_end = -1;    // commands its substitutions run
};

struct Redirect {
  int fd = -1;       // explicit descriptor, -1 when implicit
  std::string op;    // < > >> >| <> &> &>> >& <& << <<- <<<
  Word target;       // file, descriptor, or heredoc delimiter
  std::string body;  // heredoc / here-string text
  bool writes() const noexcept;  // > >> >| <> &> &>> (not >&N / descriptor duplication)
  bool is_heredoc() const noexcept { return op == "<<" || op == "<<-"; }
};

enum class Origin : std::uint8_t {
  Top,            // the command line itself
  Subshell,       // ( ... )
  Group,          // { ...; }
  CommandSubst,   // $( ... ) and ` ... `
  ProcessSubst,   // <( ... ) >( ... )
  ShellString,    // sh -c STRING, su -c, watch, flock -c, script -c, env -S, git alias
  Heredoc,        // heredoc body fed to a shell
  HereString,     // <<< text fed to a shell
  PipedText,      // echo/printf literal piped into a shell
  Eval,           // eval with literal text
  Alias,          // inline alias expansion
  Function,       // function body
  Remote,         // ssh host CMD
  WrapperArgs,    // find -exec ..., operands appended at run time
  Interpreter,    // string literal a python/node/perl/ruby/awk one-liner runs or deletes
  WrittenScript,  // a script written earlier in the same line and then executed
};

std::string_view to_string(Origin o) noexcept;

enum class StdinKind : std::uint8_t { Inherited, Pipe, File, Heredoc, HereString };

struct Command {
  std::vector<Word> argv;             // effective argv (wrappers removed)
  std::string name;                   // lower-cased basename of argv[0]; empty if unresolved
  bool unresolved_name = false;       // argv[0] not statically known
  std::vector<std::string> wrappers;  // unwrapped wrappers, outermost first
  std::vector<std::pair<std::string, Word>> assignments;  // NAME=value prefixes
  std::vector<Redirect> redirects;
  Origin origin = Origin::Top;
  int depth = 0;          // nesting depth (0 = the command line itself)
  int parent = -1;        // index of the command this one was found inside
  int pipeline = -1;      // pipeline id (commands sharing it are connected by pipes)
  int pipe_pos = 0;       // position in the pipeline
  int pipe_len = 1;
  bool background = false;
  bool operands_from_stdin = false;  // xargs/parallel/find -exec append operands at run time
  StdinKind stdin_kind = StdinKind::Inherited;
  bool stdin_known = false;           // stdin_text is exactly what the command reads
  std::string stdin_text;             // heredoc / here-string / echo literal; file name for File
  std::vector<std::string> upstream;  // names of the commands piping into this one
  bool reads_parent_output = false;   // first command of a >( ): reads what its parent writes
  bool synthetic = false;             // built from interpreter code (shutil.rmtree → rm -r)
  bool compound_redirects = false;    // argv empty: the redirects of the ( ), { }, loop before it

  std::string line() const;  // argv texts joined by single spaces
};

enum class FindingKind : std::uint8_t {
  ParseError,      // unbalanced quotes/parentheses etc.
  TooDeep,         // nesting beyond limits.max_depth
  TooLarge,        // input or output limits exceeded
  DynamicCode,     // eval/source/sh -c of text that is not statically known
  StdinCode,       // a shell or interpreter reads program text from an unknown pipe
  RemoteCode,      // program text comes from the network (curl | sh, sh <(curl ...))
  EncodedCode,     // program text is decoded at run time (base64 -d | sh, xxd -r, tr ...)
  DynamicShellout, // interpreter code runs a shell command that is not a literal
  ForkBomb,        // self-replicating function or fork loop
  WriteThenRun,    // a file downloaded/written with unknown content is executed
};

std::string_view to_string(FindingKind k) noexcept;

struct Finding {
  FindingKind kind;
  int command = -1;  // index into Script::commands, -1 if none
  std::string detail;
};

struct Script {
  std::vector<Command> commands;
  std::vector<Finding> findings;
  bool complete = true;  // false when a limit stopped the analysis
};

struct ParseLimits {
  std::size_t max_input = 64 * 1024;  // bytes of command line
  int max_depth = 8;                  // nested shells/substitutions/wrappers
  std::size_t max_commands = 1000;
  std::size_t max_words = 20000;
  std::size_t max_brace_words = 256;  // words one brace expansion may produce
};

Script parse_shell(std::string_view text, const ParseLimits& limits = {});

// Decodes the body of $'...' (without the quotes): \n \t \xHH \NNN \uHHHH \UHHHHHHHH \cX ...
std::string decode_ansi_c(std::string_view body);

// Quotes s for a POSIX shell when needed (used to join argv arrays into a command line).
std::string shell_quote(std::string_view s);

}  // namespace keel::hooks
