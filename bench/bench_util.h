// keel/bench/bench_util.h — what the bench programs share: the latency
// percentile they report and their command-line loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace keel::bench {

// The p-th percentile (0..100) of `v`, by the nearest-rank rule; 0 for an
// empty v. Reorders v.
inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()));
  if (k >= v.size()) k = v.size() - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// The latency figures (ms) a bench program prints, over every thread's samples.
struct LatencySummary {
  std::size_t count = 0;
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

inline LatencySummary summarize(const std::vector<std::vector<double>>& per_thread) {
  std::vector<double> all;
  for (const auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  LatencySummary out;
  out.count = all.size();
  out.max = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  out.p99 = percentile(all, 99);
  out.p50 = percentile(all, 50);
  return out;
}

// Prints "PROGRAM: WHY" (when there is a why) and the synopsis to stderr, and
// exits with status 2.
[[noreturn]] inline void usage_exit(std::string_view program, const std::string& why,
                                    std::string_view synopsis) {
  if (!why.empty()) std::cerr << program << ": " << why << "\n";
  std::cerr << synopsis;
  std::exit(2);
}

// Calls on_flag(flag, next) for each argument; next() returns the flag's
// value, or ends in usage(FLAG " needs a value"). A value that does not parse
// as a number (std::sto* throws) ends in usage("bad number: ...").
template <class Usage, class OnFlag>
void parse_flags(int argc, char** argv, const Usage& usage, const OnFlag& on_flag) {
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) usage(a + " needs a value");
        return argv[++i];
      };
      on_flag(a, next);
    }
  } catch (const std::exception& e) {
    usage(std::string("bad number: ") + e.what());
  }
}

}  // namespace keel::bench
