// keel/notify/backoff.h — how long a failing delivery waits before its next attempt:
// jittered exponential backoff, 250 ms doubling to 30 s, each wait scaled by a factor in
// [0.5, 1.5) so that receivers coming back are not hit by every keel at once.
//
// Pure functions (backoff_random draws from a thread-local generator): thread-safe.
#pragma once

#include <chrono>

namespace keel::notify {

inline constexpr std::chrono::milliseconds kBackoffFirst{250};
inline constexpr std::chrono::milliseconds kBackoffCap{30'000};

// The wait after failed attempt number `attempt` (1 = the first failure):
// min(kBackoffFirst · 2^(attempt-1), kBackoffCap) · (0.5 + unit), `unit` in [0, 1)
// (clamped there). attempt < 1 counts as 1.
std::chrono::milliseconds backoff_delay(int attempt, double unit);

// A uniform draw in [0, 1) for backoff_delay.
double backoff_random();

}  // namespace keel::notify
