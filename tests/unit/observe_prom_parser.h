// A strict parser of the Prometheus text exposition format 0.0.4, for the observe tests:
// it refuses what a scraper would refuse or misread (unknown escapes, a TYPE after the
// family's samples, a family split in two, a histogram whose buckets are not cumulative
// or whose +Inf bucket differs from _count, missing _sum/_count), so that a test passing
// means Prometheus reads the output the same way.
#pragma once

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace keel::observe::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  std::vector<Sample> samples;

  // The value of `name` with exactly `labels`; `missing` when absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {},
               double missing = 0) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return missing;
  }
  bool has(const std::string& name) const {
    for (const auto& s : samples) {
      if (s.name == name) return true;
    }
    return false;
  }
};

inline bool is_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    if (!(alpha || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  return true;
}

inline double parse_number(const std::string& s) {
  if (s == "+Inf" || s == "Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  std::size_t used = 0;
  double v = std::stod(s, &used);
  if (used != s.size()) throw std::runtime_error("bad number: " + s);
  return v;
}

// The family a sample belongs to (histogram suffixes folded).
inline std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx(suffix);
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

inline Exposition parse_exposition(const std::string& text) {
  Exposition e;
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("no final newline");
  std::set<std::string> closed;  // families whose samples ended
  std::string current;
  std::size_t pos = 0;
  int line_no = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(line_no) + ": " + why);
  };
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) fail("empty line");
    if (line[0] == '#') {
      const bool is_help = line.rfind("# HELP ", 0) == 0;
      const bool is_type = line.rfind("# TYPE ", 0) == 0;
      if (!is_help && !is_type) continue;  // a comment
      const std::string rest = line.substr(7);
      const std::size_t sp = rest.find(' ');
      if (sp == std::string::npos) fail("HELP/TYPE without text");
      const std::string name = rest.substr(0, sp);
      const std::string arg = rest.substr(sp + 1);
      if (!is_name(name, true)) fail("bad metric name " + name);
      if (closed.count(name) || (current == name && e.has(name))) fail("HELP/TYPE after samples of " + name);
      if (is_type) {
        if (e.types.count(name)) fail("second TYPE for " + name);
        if (arg != "counter" && arg != "gauge" && arg != "histogram" && arg != "summary" && arg != "untyped") {
          fail("bad type " + arg);
        }
        e.types[name] = arg;
      } else {
        if (e.help.count(name)) fail("second HELP for " + name);
        std::string h;
        for (std::size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\') {
            if (i + 1 >= arg.size()) fail("dangling escape in HELP");
            const char n = arg[++i];
            if (n == '\\') h += '\\';
            else if (n == 'n') h += '\n';
            else fail("bad escape in HELP");
          } else {
            h += arg[i];
          }
        }
        e.help[name] = h;
      }
      if (current != name) {
        if (!current.empty()) closed.insert(current);
        current = name;
      }
      continue;
    }
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!is_name(s.name, true)) fail("bad sample name " + s.name);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i >= line.size()) fail("unterminated labels");
        if (line[i] == '}') {
          ++i;
          break;
        }
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) fail("label without =");
        const std::string lname = line.substr(i, eq - i);
        if (!is_name(lname, false)) fail("bad label name " + lname);
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') fail("label value not quoted");
        ++i;
        std::string v;
        while (true) {
          if (i >= line.size()) fail("unterminated label value");
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) fail("dangling escape");
            const char n = line[i++];
            if (n == '\\') v += '\\';
            else if (n == '"') v += '"';
            else if (n == 'n') v += '\n';
            else fail(std::string("bad escape \\") + n);
          } else {
            v += c;
          }
        }
        if (s.labels.count(lname)) fail("label twice: " + lname);
        s.labels[lname] = v;
        if (i < line.size() && line[i] == ',') ++i;
        else if (i < line.size() && line[i] != '}') fail("expected , or }");
      }
    }
    if (i >= line.size() || line[i] != ' ') fail("no value");
    const std::string rest = line.substr(i + 1);
    const std::size_t sp = rest.find(' ');
    s.value = parse_number(rest.substr(0, sp));
    if (sp != std::string::npos) parse_number(rest.substr(sp + 1));  // a timestamp
    const std::string fam = family_of(s.name, e.types);
    if (closed.count(fam)) fail("family " + fam + " split");
    if (fam != current) {
      if (!current.empty()) closed.insert(current);
      current = fam;
    }
    auto t = e.types.find(fam);
    if (t != e.types.end() && t->second == "histogram" && s.name == fam) fail("bare histogram sample");
    if (t != e.types.end() && t->second != "histogram" && s.labels.count("le")) fail("le outside a histogram");
    e.samples.push_back(std::move(s));
  }
  // Histograms: per label set, ascending le, cumulative counts, +Inf == _count, _sum.
  for (const auto& [fam, type] : e.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    for (const auto& s : e.samples) {
      if (s.name != fam + "_bucket") continue;
      auto labels = s.labels;
      if (!labels.count("le")) throw std::runtime_error(fam + ": bucket without le");
      const double le = parse_number(labels["le"]);
      labels.erase("le");
      buckets[labels].push_back({le, s.value});
    }
    for (const auto& [labels, bs] : buckets) {
      for (std::size_t k = 1; k < bs.size(); ++k) {
        if (!(bs[k].first > bs[k - 1].first)) throw std::runtime_error(fam + ": le not ascending");
        if (bs[k].second < bs[k - 1].second) throw std::runtime_error(fam + ": not cumulative");
      }
      if (bs.empty() || !std::isinf(bs.back().first)) throw std::runtime_error(fam + ": no +Inf bucket");
      const double count = e.value(fam + "_count", labels, -1);
      if (count != bs.back().second) throw std::runtime_error(fam + ": +Inf bucket != _count");
      if (e.value(fam + "_sum", labels, NAN) != e.value(fam + "_sum", labels, NAN)) {
        throw std::runtime_error(fam + ": no _sum");
      }
    }
  }
  return e;
}

}  // namespace keel::observe::testing
