// keel/console/console_options.h — config `http.console`: the web console served at `/`.
#pragma once

#include <string>

namespace keel::console {

struct ConsoleOptions {
  bool enabled = true;     // http.console.enabled: serve the console at / (keel serve --http)
  // http.console.public_url: the console's address as people reach it; the link
  // notifications carry when notify.console_url is "" (cli/serve_notify.cpp).
  std::string public_url;
};

// Throws std::invalid_argument when public_url is set and not an http(s) URL.
void validate(const ConsoleOptions& o);

}  // namespace keel::console
