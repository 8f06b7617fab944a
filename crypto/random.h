// keel/crypto/random.h — random identifiers and secrets.
//
// Two strengths, chosen by what a guess would cost:
//  - secure_random_hex: bytes from the kernel's CSPRNG (getrandom(2)). For
//    anything a guess would let an attacker use: HTTP session ids, HMAC keys.
//  - random_hex: a per-thread 64-bit generator seeded once from the kernel.
//    Unique in practice, cheap enough for the hot path (lease ids, run ids),
//    not secret.
//
// Thread safety: both are safe from any thread.
#pragma once

#include <cstddef>
#include <string>

namespace keel::crypto {

// 2 * bytes lower-case hex characters from getrandom(2). Throws
// std::system_error if the kernel cannot supply randomness.
std::string secure_random_hex(std::size_t bytes);

// 2 * bytes lower-case hex characters from a per-thread generator.
std::string random_hex(std::size_t bytes);

}  // namespace keel::crypto
