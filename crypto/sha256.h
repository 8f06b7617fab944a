// keel/crypto/sha256.h — SHA-256 (FIPS 180-4): chains journal records,
// fingerprints memory values, and keys the HMAC of MCP request states.
//
// Thread safety: a Sha256 object is not synchronized; use one per thread. The
// free functions are pure and safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::crypto {

class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();

  // Appends `data` to the message. May be called any number of times before
  // finish().
  void update(std::string_view data);
  void update(const void* data, std::size_t size);

  // Pads the message and returns its digest. The object must not be used
  // afterwards (except by assigning a fresh Sha256 to it).
  Digest finish();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buffer_;
  std::size_t buffered_ = 0;   // bytes in buffer_, always < 64
  std::uint64_t total_ = 0;    // message length in bytes
};

// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace keel::crypto
