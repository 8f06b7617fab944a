// Unit tests: mcp::RequestStateSealer — a sealed MRTR requestState opens to
// its payload; a tampered, truncated, foreign or non-object one is -32602.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "crypto/hmac.h"
#include "mcp/jsonrpc.h"
#include "mcp/request_state.h"

namespace json = boost::json;
using namespace keel::mcp;

namespace {

// The message of the -32602 `state` opens with, "" when it opens.
std::string refusal(const RequestStateSealer& sealer, std::string_view state) {
  try {
    sealer.open(state);
    return "";
  } catch (const ProtocolError& e) {
    CHECK(e.code() == static_cast<int>(jsonrpc::ErrorCode::kInvalidParams));
    return e.what();
  }
}

}  // namespace

TEST_CASE("request state: sealed, opened, refused", "[mcp][request_state]") {
  const RequestStateSealer sealer("k1");
  const json::object payload{{"id", 7}, {"agent", "a"}, {"exp", 123}};
  const std::string state = sealer.seal(payload);
  CHECK(sealer.open(state) == payload);
  CHECK(state == keel::crypto::hmac_sha256_hex("k1", json::serialize(payload)) + "." +
                     json::serialize(payload));

  const std::string bad = "Invalid params: requestState failed its integrity check";
  std::string tampered = state;
  tampered[tampered.find("\"a\"") + 1] = 'b';
  CHECK(refusal(sealer, tampered) == bad);
  CHECK(refusal(sealer, state.substr(0, state.size() - 1)) == bad);
  CHECK(refusal(sealer, "") == bad);
  CHECK(refusal(sealer, "no dot at all") == bad);
  CHECK(refusal(RequestStateSealer("k2"), state) == bad);  // another key (another process)
  CHECK(refusal(RequestStateSealer::random(), state) == bad);
  // A correct MAC over something that is not an object is refused too.
  CHECK(refusal(sealer, keel::crypto::hmac_sha256_hex("k1", "[1]") + ".[1]") == bad);

  const ProtocolError e = request_state_error("has expired");
  CHECK(e.code() == -32602);
  CHECK(std::string(e.what()) == "Invalid params: requestState has expired");
}
