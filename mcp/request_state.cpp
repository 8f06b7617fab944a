// keel/mcp/request_state.cpp — RequestStateSealer (see request_state.h).
#include "mcp/request_state.h"

#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "crypto/hmac.h"
#include "crypto/random.h"
#include "mcp/jsonrpc.h"

namespace keel::mcp {

namespace json = boost::json;

RequestStateSealer::RequestStateSealer(std::string key) : key_(std::move(key)) {}

RequestStateSealer RequestStateSealer::random() {
  return RequestStateSealer(crypto::secure_random_hex(32));
}

std::string RequestStateSealer::seal(const json::object& payload) const {
  const std::string body = json::serialize(payload);
  return crypto::hmac_sha256_hex(key_, body) + "." + body;
}

json::object RequestStateSealer::open(std::string_view state) const {
  const auto dot = state.find('.');
  if (dot != std::string_view::npos) {
    const std::string_view mac = state.substr(0, dot);
    const std::string_view body = state.substr(dot + 1);
    if (crypto::constant_time_equals(mac, crypto::hmac_sha256_hex(key_, body))) {
      boost::system::error_code ec;
      json::value v = json::parse(body, ec);
      if (!ec && v.is_object()) return std::move(v.as_object());
    }
  }
  throw request_state_error("failed its integrity check");
}

ProtocolError request_state_error(std::string_view why) {
  return ProtocolError(static_cast<int>(jsonrpc::ErrorCode::kInvalidParams),
                       "Invalid params: requestState " + std::string(why));
}

}  // namespace keel::mcp
