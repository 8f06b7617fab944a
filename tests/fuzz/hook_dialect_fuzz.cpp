// tests/fuzz/hook_dialect_fuzz.cpp — libFuzzer target: every hook dialect's
// parser (hooks/dialect.h) and renderer.
//
// The input goes to detect_dialect (documented never to throw) and to the
// parse() of each of the seven dialects, whose only documented failure is
// HookInputError; any other exception, crash or sanitizer report is a
// finding. A parsed event is rendered with each outcome (render never throws).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "hooks/dialect.h"

namespace {
constexpr std::string_view kDialects[] = {"claude", "codex", "gemini", "cursor",
                                          "copilot", "windsurf", "cline"};
constexpr keel::hooks::Outcome kOutcomes[] = {
    keel::hooks::Outcome::Continue, keel::hooks::Outcome::Allow, keel::hooks::Outcome::Ask,
    keel::hooks::Outcome::Deny, keel::hooks::Outcome::BlockStop};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)keel::hooks::detect_dialect(in, size % 2 == 0);
  static const auto dialects = [] {
    std::vector<std::unique_ptr<keel::hooks::Dialect>> v;
    for (auto n : kDialects) {
      v.push_back(keel::hooks::make_dialect(n));
      if (!v.back()) __builtin_trap();  // make_dialect must know all seven
    }
    return v;
  }();
  for (const auto& d : dialects) {
    try {
      const keel::hooks::HookEvent ev = d->parse(in);
      for (auto o : kOutcomes) {
        keel::hooks::HookDecision dec;
        dec.outcome = o;
        dec.reason = "fuzz";
        (void)d->render(ev, dec);
      }
    } catch (const keel::hooks::HookInputError&) {
      // the documented refusal
    }
  }
  return 0;
}
