// code_scan_impl.h — what the code scanner's files share: the lexer (code_scan_literals.cpp) and
// the per-language call tables (code_scan_patterns.cpp). Not a public API.
#pragma once

#include "hooks/code_scan.h"

#include <cctype>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::hooks::codescan {

inline bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' || c == '@';
}

inline void skip_ws(std::string_view s, std::size_t& p) {
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
}

// Reads a string literal at s[p]. Returns false if there is none. `dynamic` is set when the
// literal interpolates (f-strings, `${}`, "#{}", "$var") or is concatenated with something.
bool read_literal(std::string_view s, std::size_t& p, CodeLang lang, std::string& out,
                  bool& dynamic);

// The items of a list literal, from just after its '[' up to (not past) the
// closing ']': literals as resolved words, anything else as unresolved text.
void read_literal_list(std::string_view s, std::size_t& r, CodeLang lang,
                       std::vector<std::pair<std::string, bool>>& argv);

// Reads a delimited literal such as %x{...}, qx(...), `...`.
bool read_delimited(std::string_view s, std::size_t& p, char open, std::string& out,
                    bool& dynamic);

// Position of the end of the call's argument list starting at '(' (or s.size()).
std::size_t call_end(std::string_view s, std::size_t open);

// Home-directory expressions used as deletion targets.
bool home_expr(std::string_view s, std::size_t p);

struct Pattern {
  std::string_view text;
  // PipeOpen: Perl/Ruby open(), which runs "|cmd" / "cmd|" / mode "-|" and otherwise reads.
  enum class Act { Shell, PyCode, Delete, DeleteRec, DeleteMaybeRec, Read, PipeOpen } act;
};

// The calls to look for in `lang`.
std::span<const Pattern> patterns_for(CodeLang lang);

// Rewrites Python code so that the patterns see through module aliases:
//   __import__('os') / importlib.import_module('os')  → os
//   import subprocess as sp; sp.run(...)               → subprocess.run(...)
//   from os import system as s; s(...)                 → os.system(...)
std::string python_unalias(std::string_view code);

}  // namespace keel::hooks::codescan
