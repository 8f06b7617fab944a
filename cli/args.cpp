#include "cli/args.h"

#include <charconv>

namespace keel::cli {

std::optional<std::string> Args::get(std::string_view name) const {
  auto it = options_.find(std::string(name));
  if (it == options_.end()) return std::nullopt;
  return it->second;
}

std::optional<long long> Args::get_int(std::string_view name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  long long out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) {
    throw UsageError("--" + std::string(name) + " takes an integer, got '" + *v + "'");
  }
  return out;
}

Args Args::parse(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs) {
  Args args;
  auto find = [&](std::string_view name) -> const OptionSpec* {
    for (const auto& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  bool only_positionals = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (only_positionals || w.size() < 2 || w[0] != '-' || w == "-") {
      args.positionals_.push_back(w);
      continue;
    }
    if (w == "--") {
      only_positionals = true;
      continue;
    }
    if (w == "-h") {
      args.options_["help"] = "";
      continue;
    }
    if (w.rfind("--", 0) != 0) throw UsageError("unknown option '" + w + "'");
    std::string name = w.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = find(name);
    if (!spec) throw UsageError("unknown option '--" + name + "'");
    if (spec->value_name.empty()) {
      if (inline_value) throw UsageError("--" + name + " takes no value");
      args.options_[name] = "";
    } else if (inline_value) {
      args.options_[name] = *inline_value;
    } else {
      if (i + 1 >= words.size()) {
        throw UsageError("--" + name + " needs a value (" + spec->value_name + ")");
      }
      args.options_[name] = words[++i];
    }
  }
  return args;
}

}  // namespace keel::cli
