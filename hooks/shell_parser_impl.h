// shell_parser_impl.h — internals shared by pass 1 (syntax: shell_parser.cpp, shell_grammar.cpp,
// shell_simple_command.cpp, shell_words.cpp, shell_expansion.cpp) and pass 2 (semantics:
// shell_analysis.cpp — wrapper unwrapping, nested shells and interpreters, stdin sources,
// write-then-run). Not a public API.
#pragma once

#include "hooks/shell_parser.h"
#include "hooks/text.h"

#include <cctype>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::hooks::detail {

// State of one parse_shell() call.
struct Ctx {
  Script& out;
  const ParseLimits& lim;
  std::map<std::string, std::string, std::less<>> vars;     // statically known variables
  std::set<std::string, std::less<>> temp_vars;              // of those, the ones mktemp named
  // How often each name is assigned anywhere in the text (count_assignments). A variable
  // assigned more than once may hold either value at a use (subshells, conditionals, function
  // bodies and eval'd text do not run in source order), so only a single assignment is trusted.
  std::map<std::string, int, std::less<>> assign_count;
  bool ifs_assigned = false;  // IFS changes field splitting: unquoted expansions are unknown
  std::string_view top;       // the whole command line (nested text inside it is counted once)
  std::map<std::string, std::string, std::less<>> aliases;  // inline alias definitions
  struct FileInfo {
    bool known = false;
    std::string text;
  };
  std::map<std::string, FileInfo, std::less<>> files;  // files written earlier in the line
  std::deque<std::string> arena;                       // owns text that sub-parsers read
  std::size_t words = 0;
  int next_pipeline = 0;
  int rec = 0;  // syntactic recursion depth (bounded independently of semantic depth)
  bool stopped = false;

  Ctx(Script& o, const ParseLimits& l) : out(o), lim(l) {}
  void find(FindingKind k, int cmd, std::string detail);
  bool full();  // true once a size limit is reached (records the finding once)
  std::string_view keep(std::string s) {
    arena.push_back(std::move(s));
    return arena.back();
  }
};

enum Term : unsigned { kTermNone = 0, kTermParen = 1, kTermBrace = 2, kTermCase = 4 };

class Parser {
 public:
  Parser(Ctx& c, std::string_view s, int depth, Origin origin, int parent)
      : c_(c), s_(s), depth_(depth), origin_(origin), parent_(parent) {}

  // Parses the whole text as a command list.
  void parse_all();
  // Treats the whole text as the inside of a double-quoted string (unquoted heredoc bodies) so
  // that its $( ) and ` ` substitutions are found.
  void scan_expansions();
  // Finds the $( ) and ` ` substitutions inside the arithmetic text s_[from, to) ($(( )), (( ))
  // and for (( ))), which the shell runs before it evaluates the expression.
  void scan_arithmetic(std::size_t from, std::size_t to);
  // Reads words (one, or several after brace expansion / splitting). False at a non-word.
  bool read_words(std::vector<Word>& out, bool allow_brace = true);

  std::size_t pos() const { return i_; }
  void set_pos(std::size_t p) { i_ = p; }
  void parse_list(unsigned term);

 private:
  void parse_pipeline();
  void parse_element();
  void parse_simple();
  void parse_trailing_redirects();
  void parse_function_body(const std::string& name);
  void parse_case();
  bool at_word(std::string_view w) const;
  void skip_blanks();
  bool read_redirect(std::vector<Redirect>& redirs, std::vector<int>& heredocs);
  void read_heredocs();
  void read_dq(Word& w, bool terminated);
  void read_dollar(Word& w, bool in_dq, std::vector<Word>& pieces);
  void read_backtick(Word& w);
  void read_cmd_subst(Word& w, std::size_t start, bool proc);
  void expand_var(std::string_view name, std::string_view raw, Word& w, bool in_dq,
                  std::vector<Word>& pieces);
  void error(std::string msg);
  int push(Command cmd, const std::vector<int>& heredoc_redirs);

  // Up to n characters at the cursor; empty at or past the end, so that a
  // cursor stepped past the end by malformed input never throws.
  std::string_view peek(std::size_t n) const {
    return i_ < s_.size() ? s_.substr(i_, n) : std::string_view();
  }

  Ctx& c_;
  std::string_view s_;
  std::size_t i_ = 0;
  int depth_;
  Origin origin_;
  int parent_;
  std::vector<std::pair<int, int>> pending_;  // (command, redirect) awaiting heredoc bodies
};

// Skips to just after the parenthesis that closes `level` open ones (quotes respected).
std::size_t skip_balanced(std::string_view s, std::size_t i, int level);

// Pass 2 over command `ci`: unwrap wrappers, resolve name, stdin, nested code, written files.
void analyse(Ctx& c, int ci);

// Parses `text` as nested shell code run by command `parent`.
void sub_parse(Ctx& c, std::string text, int parent, Origin origin);

using text::lower;
std::string basename_of(std::string_view s);

// Characters that end an unquoted word.
inline bool is_break(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ';' || ch == '&' ||
         ch == '|' || ch == '<' || ch == '>' || ch == '(' || ch == ')';
}

inline bool is_name_start(char ch) {
  return std::isalpha(static_cast<unsigned char>(ch)) != 0 || ch == '_';
}
inline bool is_name_char(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
}
bool is_assignment_word(std::string_view raw);

// Adds every NAME= / NAME+= / NAME[i]= that starts a word anywhere in `text` (quoted or not,
// so that eval and sh -c payloads count) to c.assign_count. Over-counting only makes the
// analysis more cautious.
void count_assignments(Ctx& c, std::string_view text);

}  // namespace keel::hooks::detail
