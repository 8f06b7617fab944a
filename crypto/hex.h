// keel/crypto/hex.h — lower-case hexadecimal, the one encoder of the tree
// (journal hashes, value fingerprints, ids, HMACs, session ids).
//
// Thread safety: pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::crypto {

// Lower-case hexadecimal of `bytes` (2 * size characters).
std::string to_hex(const std::uint8_t* bytes, std::size_t size);
// Lower-case hexadecimal of the bytes of `bytes`.
std::string to_hex(std::string_view bytes);

}  // namespace keel::crypto
