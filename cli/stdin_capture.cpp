// keel/cli/stdin_capture.cpp — see stdin_capture.h.
#include "cli/stdin_capture.h"

#include <optional>

namespace keel::cli {

namespace {
std::optional<std::string>& captured() {
  static std::optional<std::string> bytes;
  return bytes;
}
}  // namespace

void remember_stdin(std::string_view bytes) { captured() = std::string(bytes); }

const std::string* remembered_stdin() { return captured() ? &*captured() : nullptr; }

}  // namespace keel::cli
