// SHA-256 against the FIPS 180-2 / NIST test vectors.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "crypto/hex.h"
#include "crypto/hmac.h"
#include "crypto/random.h"
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

TEST_CASE("hmac-sha256 test vectors (RFC 4231)") {
  using keel::crypto::hmac_sha256_hex;
  CHECK(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256_hex(std::string(131, '\xaa'),
                        "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("constant_time_equals compares whole strings") {
  using keel::crypto::constant_time_equals;
  CHECK(constant_time_equals("abc", "abc"));
  CHECK(constant_time_equals("", ""));
  CHECK_FALSE(constant_time_equals("abc", "abd"));
  CHECK_FALSE(constant_time_equals("abc", "abcd"));
  CHECK_FALSE(constant_time_equals("abc", "Abc"));
}

TEST_CASE("random ids: the requested length, hex digits, no repeats") {
  using keel::crypto::random_hex;
  using keel::crypto::secure_random_hex;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string a = random_hex(16);
    const std::string b = secure_random_hex(16);
    REQUIRE(a.size() == 32);
    REQUIRE(b.size() == 32);
    REQUIRE(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    REQUIRE(b.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(seen.insert(a).second);
    CHECK(seen.insert(b).second);
  }
  CHECK(random_hex(3).size() == 6);
  CHECK(random_hex(0).empty());
  CHECK(keel::crypto::to_hex(std::string_view("\x00\xff", 2)) == "00ff");
}
