// tests/fuzz/config_fuzz.cpp — libFuzzer target: the keel.jsonc loader
// (cli/config.h parse_config).
//
// Its only documented failure is ConfigError (naming the key); any other
// exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    (void)keel::cli::parse_config(in, "fuzz.jsonc");
  } catch (const keel::cli::ConfigError&) {
    // the documented refusal
  }
  return 0;
}
