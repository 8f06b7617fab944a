// keel/mcp/request_state.h — the MRTR requestState of the 2026-07-28 era: a
// tool that answers with an InputRequiredResult hands the client an opaque
// string, and the client's retry brings it back with the answers. keel keeps
// no server-side record: the state is the payload itself, sealed with an HMAC
// so that a client cannot forge or edit it.
//
// The opaque form is "<HMAC-SHA256 hex>.<payload JSON>". A state that does
// not open (tampered, truncated, sealed with another key, not an object) and
// one its tool refuses (expired, another principal's, ...) are answered with
// the JSON-RPC error -32602 "Invalid params: requestState <why>", made here.
//
// Thread safety: a RequestStateSealer is immutable; use it from any thread.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "mcp/tool.h"

namespace keel::mcp {

class RequestStateSealer {
 public:
  // Seals with `key` (any bytes; keep them secret).
  explicit RequestStateSealer(std::string key);
  // A sealer with a fresh 32-byte random key: what it seals dies with it.
  static RequestStateSealer random();

  std::string seal(const boost::json::object& payload) const;
  // The payload of a state this sealer sealed (the MAC compared in constant
  // time); anything else throws request_state_error("failed its integrity check").
  boost::json::object open(std::string_view state) const;

 private:
  std::string key_;
};

// The -32602 error for a requestState refused because it `why` ("has
// expired", "belongs to another principal", ...): throw it from a handler.
ProtocolError request_state_error(std::string_view why);

}  // namespace keel::mcp
