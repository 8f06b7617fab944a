// keel/observe/telemetry_config.h — config `telemetry`: OTLP/HTTP (JSON) trace export.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace keel::observe {

struct TelemetryConfig {
  // OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; "": no export.
  std::string otlp_endpoint;
  std::map<std::string, std::string> otlp_headers;  // sent with every export
  std::string service_name = "keel";                 // resource service.name
  int max_queue = 2048;         // spans waiting; beyond: dropped and counted
  int max_batch = 512;          // spans per export request
  std::int64_t flush_ms = 1000; // an export at least this often while spans wait
  std::int64_t timeout_ms = 2000;  // one export request
};

}  // namespace keel::observe

namespace keel::observe {
// Throws std::invalid_argument ("otlp_endpoint: ...") for a config that cannot work.
void validate(const TelemetryConfig& c);
}  // namespace keel::observe
