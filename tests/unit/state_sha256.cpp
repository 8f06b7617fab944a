// SHA-256 against the FIPS 180-2 / NIST test vectors.
#include <catch2/catch.hpp>

#include <string>

#include "crypto/sha256.h"

using keel::crypto::Sha256;
using keel::crypto::sha256_hex;
using keel::crypto::to_hex;

TEST_CASE("sha256: FIPS test vectors", "[state][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: incremental updates equal one-shot", "[state][sha256]") {
  const std::string msg(1000, 'x');
  for (const std::size_t chunk : {1u, 3u, 63u, 64u, 65u, 200u}) {
    Sha256 h;
    for (std::size_t i = 0; i < msg.size(); i += chunk) {
      h.update(std::string_view(msg).substr(i, chunk));
    }
    const auto d = h.finish();
    CHECK(to_hex(d.data(), d.size()) == sha256_hex(msg));
  }
  // Lengths around the padding boundary.
  for (std::size_t n = 50; n < 70; ++n) {
    Sha256 a;
    a.update(std::string(n, 'q'));
    const auto da = a.finish();
    Sha256 b;
    for (std::size_t i = 0; i < n; ++i) b.update("q");
    const auto db = b.finish();
    CHECK(da == db);
  }
}
