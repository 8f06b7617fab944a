// keel/notify/backoff.cpp — backoff_delay (backoff.h).
#include "notify/backoff.h"

#include <algorithm>
#include <random>

namespace keel::notify {

std::chrono::milliseconds backoff_delay(int attempt, double unit) {
  attempt = std::clamp(attempt, 1, 64);
  unit = std::clamp(unit, 0.0, 0.999999);
  std::int64_t base = kBackoffFirst.count();
  for (int i = 1; i < attempt && base < kBackoffCap.count(); ++i) base *= 2;
  base = std::min<std::int64_t>(base, kBackoffCap.count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base) * (0.5 + unit)));
}

double backoff_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

}  // namespace keel::notify
