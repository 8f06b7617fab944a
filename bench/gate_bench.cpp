// gate_bench — how long the permission gate takes to decide a shell command, in process: the
// destructive and ordinary corpora (tests/hooks/*.txt), each command timed separately over
// several rounds (median and p99 per command), and the pathological shapes a hostile command
// line may take (each once, worst of the rounds). The gate must stay linear in its input: a
// slow pathological case is how an agent would exhaust a hook's deadline.
//
// Usage: gate_bench [--rounds N] [--corpus DIR]     (default 5 rounds, DIR = <source>/tests/hooks)
// Not a test: it prints figures and exits 0 (bench/README.md).
#include "hooks/permission_gate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace keel::hooks;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> load(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  const std::string nl = "\xE2\x8F\x8E";  // ⏎ stands for a line break, as in the corpus test
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::string text;
    std::size_t from = 0;
    for (std::size_t p; (p = line.find(nl, from)) != std::string::npos; from = p + nl.size())
      text.append(line, from, p - from).push_back('\n');
    text.append(line, from, std::string::npos);
    out.push_back(std::move(text));
  }
  return out;
}

double time_us(const PermissionGate& gate, const std::string& cmd) {
  auto t0 = Clock::now();
  GateVerdict v = gate.check_shell(cmd, "/home/dev/project");
  auto t1 = Clock::now();
  if (v.rule_id.size() > 1000) std::puts("");  // keep the call observable
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  std::string dir = std::string(KEEL_SOURCE_DIR) + "/tests/hooks";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--corpus") && i + 1 < argc) dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: gate_bench [--rounds N] [--corpus DIR]\n");
      return 2;
    }
  }
  GateConfig cfg;
  cfg.home = "/home/dev";
  PermissionGate gate(cfg);
  std::printf("| input | commands | median µs | p99 µs | max µs |\n|---|---:|---:|---:|---:|\n");
  for (const char* name : {"destructive.txt", "ordinary.txt"}) {
    auto cmds = load(dir + "/" + name);
    if (cmds.empty()) {
      std::fprintf(stderr, "gate_bench: no commands in %s/%s\n", dir.c_str(), name);
      return 1;
    }
    std::vector<double> per_cmd;  // each command's median over the rounds
    for (const auto& c : cmds) {
      std::vector<double> r;
      for (int k = 0; k < rounds; ++k) r.push_back(time_us(gate, c));
      per_cmd.push_back(quantile(r, 0.5));
    }
    std::printf("| %s | %zu | %.1f | %.1f | %.1f |\n", name, cmds.size(), quantile(per_cmd, 0.5),
                quantile(per_cmd, 0.99), quantile(per_cmd, 1.0));
  }
  std::vector<std::pair<std::string, std::string>> shapes;
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  shapes.push_back({"60,000 × (", std::string(60000, '(')});
  shapes.push_back({"60,000 × $", std::string(60000, '$')});
  shapes.push_back({"30,000 × { then ,", std::string(30000, '{') + std::string(30000, ',')});
  shapes.push_back({"3,000 × \"$(", repeat("\"$(", 3000)});
  shapes.push_back({"3,000 × $((", repeat("$(( ", 3000)});
  shapes.push_back({"5,000 × ${x:-`", "echo " + repeat("${x:-`", 5000)});
  shapes.push_back({"2,000 heredocs", [&] {
                      std::string h;
                      for (int i = 0; i < 2000; ++i) h += "cat <<E" + std::to_string(i) + " ";
                      return h;
                    }()});
  shapes.push_back({"10,000 × a|", repeat("a|", 10000)});
  shapes.push_back({"6,000 assignments", repeat("X=1; ", 6000)});
  shapes.push_back({"8 nested bash -c, 50 KB", repeat("bash -c \"", 8) + std::string(50000, 'x')});
  shapes.push_back({"python -c, 3,000 imports", "python3 -c \"" + [&] {
                      std::string py;
                      for (int i = 0; i < 3000; ++i) py += "import os as o" + std::to_string(i) + "; ";
                      return py;
                    }() + "\""});
  shapes.push_back({"3,000 sed e commands", repeat("sed 's/a/b/e;e x;' f;", 3000)});
  std::printf("\n| pathological input | bytes | worst ms over %d rounds |\n|---|---:|---:|\n", rounds);
  for (const auto& [name, text] : shapes) {
    double worst = 0;
    for (int k = 0; k < rounds; ++k) worst = std::max(worst, time_us(gate, text) / 1000.0);
    std::printf("| %s | %zu | %.2f |\n", name.c_str(), text.size(), worst);
  }
  return 0;
}
