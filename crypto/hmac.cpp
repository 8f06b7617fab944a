// keel/crypto/hmac.cpp — RFC 2104 HMAC-SHA256 over crypto/sha256.
#include "crypto/hmac.h"

#include "crypto/hex.h"
#include "crypto/sha256.h"

namespace keel::crypto {
namespace {

Sha256::Digest digest_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message) {
  std::string k(key);
  if (k.size() > 64) {
    const auto d = digest_of(k);
    k.assign(reinterpret_cast<const char*>(d.data()), d.size());
  }
  k.resize(64, '\0');
  std::string inner(64, '\0');
  std::string outer(64, '\0');
  for (int i = 0; i < 64; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  inner.append(message);
  const auto ih = digest_of(inner);
  outer.append(reinterpret_cast<const char*>(ih.data()), ih.size());
  return digest_of(outer);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  const auto d = hmac_sha256(key, message);
  return to_hex(d.data(), d.size());
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^
                                              static_cast<unsigned char>(b[i])));
  }
  return diff == 0;
}

}  // namespace keel::crypto
