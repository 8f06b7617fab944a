// keel/observe/telemetry_config.cpp — checking config `telemetry` (telemetry_config.h).
#include "observe/telemetry_config.h"

#include <stdexcept>

#include "net/http_client.h"

namespace keel::observe {

void validate(const TelemetryConfig& c) {
  if (!c.otlp_endpoint.empty()) {
    try {
      net::parse_url(c.otlp_endpoint);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("otlp_endpoint: ") + e.what());
    }
  }
  if (c.service_name.empty()) throw std::invalid_argument("service_name: must not be empty");
}

}  // namespace keel::observe
