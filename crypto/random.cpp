// keel/crypto/random.cpp
#include "crypto/random.h"

#include "crypto/hex.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <system_error>
#include <vector>

namespace keel::crypto {

std::string secure_random_hex(std::size_t bytes) {
  std::vector<std::uint8_t> buf(bytes);
  std::size_t filled = 0;
  while (filled < bytes) {
    const ssize_t n = ::getrandom(buf.data() + filled, bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<std::size_t>(n);
  }
  return to_hex(buf.data(), buf.size());
}

std::string random_hex(std::size_t bytes) {
  // Seeded per thread and per process: a child forked without exec would
  // otherwise draw its parent's stream and mint the parent's (and its
  // siblings') ids again.
  thread_local pid_t owner = 0;
  thread_local std::mt19937_64 rng;
  if (const pid_t pid = ::getpid(); owner != pid) {
    std::random_device rd;
    rng.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
    owner = pid;
  }
  std::vector<std::uint8_t> buf(bytes);
  for (std::size_t i = 0; i < bytes; i += 8) {
    std::uint64_t word = rng();
    for (std::size_t j = i; j < bytes && j < i + 8; ++j) {
      buf[j] = static_cast<std::uint8_t>(word & 0xff);
      word >>= 8;
    }
  }
  return to_hex(buf.data(), buf.size());
}

}  // namespace keel::crypto
