// Dispatch and help for the keel executable.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <utility>

#include "cli/commands.h"
#include "state/store.h"

namespace keel::cli {

namespace {

// Each group of commands, by its first word.
using CommandGroup = std::vector<Command> (*)();
constexpr std::pair<std::string_view, CommandGroup> kGroups[] = {
    {"serve", serve_commands},     {"hook", hook_commands},
    {"journal", journal_commands}, {"lease", lease_commands},
    {"memory", memory_commands},   {"install", install_commands},
    {"escalation", escalation_commands}, {"agents", agents_commands},
    {"doctor", doctor_commands},   {"store", store_commands},
    {"console", console_commands}};

std::vector<Command> all_commands() {
  std::vector<Command> all;
  for (const auto& [word, group] : kGroups) {
    for (auto& c : group()) all.push_back(std::move(c));
  }
  return all;
}

// The commands a command line can name: only its group's when its first word names one
// (building every group's table is a third of a hook run's instructions), else all of them
// (help, overview, unknown words).
std::vector<Command> commands_for(const std::vector<std::string>& words) {
  if (!words.empty()) {
    for (const auto& [word, group] : kGroups) {
      if (words.front() == word) return group();
    }
  }
  return all_commands();
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

void print_options(std::ostream& out, const std::vector<OptionSpec>& options) {
  for (const auto& o : options) {
    std::string left = "  --" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    if (left.size() < 26) left.resize(26, ' ');
    else left += "  ";
    out << left << o.help << "\n";
  }
}

void print_command_help(std::ostream& out, const Command& c) {
  out << "usage: " << c.usage << "\n\n" << c.summary << "\n";
  if (!c.details.empty()) out << "\n" << c.details << "\n";
  out << "\noptions:\n";
  print_options(out, c.options);
  print_options(out, common_options());
}

void print_overview(std::ostream& out, const std::vector<Command>& commands,
                    const std::vector<std::string>& prefix) {
  if (prefix.empty()) {
    out << "keel — coordination for fleets of coding agents: leases, memory, journal over MCP\n\n"
           "usage: keel <command> [options]\n\ncommands:\n";
  } else {
    out << "usage: keel " << join(prefix) << " <command> [options]\n\ncommands:\n";
  }
  for (const auto& c : commands) {
    if (c.words.size() < prefix.size() ||
        !std::equal(prefix.begin(), prefix.end(), c.words.begin())) {
      continue;
    }
    std::string left = "  " + join(c.words);
    if (left.size() < 26) left.resize(26, ' ');
    else left += "  ";
    out << left << c.summary << "\n";
  }
  out << "\nEvery command takes --help. Common options:\n";
  print_options(out, common_options());
}

// Takes the common options that precede the command words (`keel --store URL
// journal tail`) out of `words`; they are parsed with the command's own.
std::vector<std::string> take_leading_options(std::vector<std::string>& words) {
  std::vector<std::string> leading;
  std::size_t i = 0;
  while (i < words.size() && words[i].rfind("--", 0) == 0 && words[i].size() > 2) {
    const std::string& w = words[i];
    const std::size_t eq = w.find('=');
    const std::string name = w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const auto& common = common_options();
    const auto spec = std::find_if(common.begin(), common.end(),
                                   [&](const OptionSpec& o) { return o.name == name; });
    if (spec == common.end() || spec->value_name.empty()) break;  // e.g. --help
    leading.push_back(w);
    if (eq == std::string::npos && i + 1 < words.size()) leading.push_back(words[++i]);
    ++i;
  }
  words.erase(words.begin(), words.begin() + static_cast<long>(i));
  return leading;
}

}  // namespace

int run_keel(int argc, char** argv) {
  remember_start_directory();
  std::vector<std::string> words(argv + 1, argv + argc);
  const std::vector<std::string> leading = take_leading_options(words);
  const std::vector<Command> commands = commands_for(words);

  // The longest command whose words prefix the command line.
  const Command* cmd = nullptr;
  for (const auto& c : commands) {
    if (c.words.size() <= words.size() &&
        std::equal(c.words.begin(), c.words.end(), words.begin()) &&
        (!cmd || c.words.size() > cmd->words.size())) {
      cmd = &c;
    }
  }
  if (!cmd) {
    // A group name alone, `help`, or nothing: the overview of that group.
    std::vector<std::string> prefix;
    for (const auto& w : words) {
      if (w.empty() || w[0] == '-' || w == "help") break;
      prefix.push_back(w);
    }
    bool known_group = prefix.empty();
    for (const auto& c : commands) {
      if (!prefix.empty() && c.words.size() > prefix.size() &&
          std::equal(prefix.begin(), prefix.end(), c.words.begin())) {
        known_group = true;
      }
    }
    bool asked_for_help = words.empty() || words.back() == "--help" || words.back() == "-h" ||
                          (!words.empty() && words.front() == "help");
    if (known_group) {
      print_overview(asked_for_help ? std::cout : std::cerr, commands, prefix);
      return asked_for_help ? 0 : 2;
    }
    std::cerr << "keel: unknown command '" << join(prefix) << "' (see keel --help)\n";
    return 2;
  }

  std::vector<OptionSpec> specs = cmd->options;
  specs.insert(specs.end(), common_options().begin(), common_options().end());
  std::vector<std::string> rest = leading;
  rest.insert(rest.end(), words.begin() + static_cast<long>(cmd->words.size()), words.end());
  try {
    Args args = Args::parse(rest, specs);
    if (args.has("help")) {
      print_command_help(std::cout, *cmd);
      return 0;
    }
    Workspace ws = Workspace::resolve(args);
    init_logging(ws.config().log_level);
    return cmd->run(args, ws);
  } catch (const UsageError& e) {
    std::cerr << "keel: " << e.what() << "\nusage: " << cmd->usage << "\n(see keel "
              << join(cmd->words) << " --help)\n";
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "keel: config: " << e.what() << "\n";
    return 2;
  } catch (const state::StoreError& e) {
    std::cerr << "keel: " << state::to_string(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keel: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace keel::cli
