// glob.h — hand-written glob matching for permission rules (no regex, no allocation).
//
// glob_match(pattern, text, path_mode):
//   *       any run of characters (in path mode: not crossing '/')
//   **      any run of characters including '/' (path mode); "**/" also matches nothing
//   ?       one character (in path mode: not '/')
//   [abc] [a-z] [!x] [^x]   one character from / not from a class
//   {a,b}   alternatives (no nesting)
//   \x      the literal character x
// Matching is case-sensitive; callers lower-case both sides when they want otherwise.
// Worst-case cost is bounded (iterative backtracking for '*', bounded alternatives).
#pragma once

#include <string_view>

namespace keel::hooks {

bool glob_match(std::string_view pattern, std::string_view text, bool path_mode);

// True if s contains an unescaped glob metacharacter (* ? [ {).
bool has_glob_chars(std::string_view s) noexcept;

}  // namespace keel::hooks
