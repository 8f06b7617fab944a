// keel/console/console_options.cpp — checking config `http.console`.
#include "console/console_options.h"

#include <stdexcept>

namespace keel::console {

void validate(const ConsoleOptions& o) {
  if (o.public_url.empty()) return;
  if (o.public_url.rfind("http://", 0) != 0 && o.public_url.rfind("https://", 0) != 0) {
    throw std::invalid_argument("public_url: must start with http:// or https://");
  }
}

}  // namespace keel::console
