// keel/cli/args.h — the command-line grammar: `keel <command words> [options]
// [positionals]`, options as `--name value`, `--name=value` or `--flag`.
//
// Each command declares its options; anything else is a usage error, so a
// typo such as `--stat` is reported instead of silently ignored.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel::cli {

struct OptionSpec {
  std::string name;        // without the leading dashes, e.g. "state"
  std::string value_name;  // e.g. "DIR"; empty for a flag
  std::string help;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  bool has(std::string_view name) const { return options_.count(std::string(name)) != 0; }
  std::optional<std::string> get(std::string_view name) const;
  // The option's value as an integer; UsageError when it is not one.
  std::optional<long long> get_int(std::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // Parses argv words after the command words against `specs`.
  static Args parse(const std::vector<std::string>& words, const std::vector<OptionSpec>& specs);

 private:
  std::map<std::string, std::string> options_;
  std::vector<std::string> positionals_;
};

}  // namespace keel::cli
