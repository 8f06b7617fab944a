// gate_config.cpp — see gate_config.h.
#include "hooks/gate_config.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include "hooks/glob.h"
#include "hooks/text.h"

namespace keel::hooks {
namespace {

namespace json = boost::json;

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t k = 0;
  while (k < s.size()) {
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
    std::size_t e = k;
    while (e < s.size() && s[e] != ' ' && s[e] != '\t') ++e;
    if (e > k) out.emplace_back(s.substr(k, e - k));
    k = e;
  }
  return out;
}

}  // namespace

GateConfig parse_gate_config(const boost::json::value& v) {
  GateConfig cfg;
  const json::array* rules = nullptr;
  if (v.is_array()) {
    rules = &v.as_array();
  } else if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      std::string_view k = kv.key();
      if (k == "strict") {
        if (!kv.value().is_bool()) throw GateConfigError("permission.strict must be true or false");
        cfg.strict = kv.value().as_bool();
      } else if (k == "remember_approvals") {
        if (!kv.value().is_bool()) throw GateConfigError("permission.remember_approvals must be true or false");
        cfg.remember_approvals = kv.value().as_bool();
      } else if (k == "builtin") {
        if (!kv.value().is_bool()) throw GateConfigError("permission.builtin must be true or false");
        cfg.builtin = kv.value().as_bool();
      } else if (k == "disable") {
        if (!kv.value().is_array()) throw GateConfigError("permission.disable must be an array of built-in rule ids");
        for (const auto& e : kv.value().as_array()) {
          if (!e.is_string()) throw GateConfigError("permission.disable entries must be strings");
          cfg.disabled.emplace_back(e.as_string());
        }
      } else if (k == "rules") {
        if (!kv.value().is_array()) throw GateConfigError("permission.rules must be an array");
        rules = &kv.value().as_array();
      } else if (k == "home") {
        if (!kv.value().is_string()) throw GateConfigError("permission.home must be a string");
        cfg.home = std::string(kv.value().as_string());
      } else {
        throw GateConfigError("unknown key '" + std::string(k) +
                              "' in permission; expected strict, builtin, disable, rules, remember_approvals");
      }
    }
  } else if (!v.is_null()) {
    throw GateConfigError("permission must be an object or an array of rules");
  }
  if (!rules) return cfg;
  std::size_t idx = 0;
  for (const auto& rv : *rules) {
    std::string where = "permission.rules[" + std::to_string(idx) + "]";
    if (!rv.is_object()) throw GateConfigError(where + " must be an object");
    GateRule r;
    r.id = "rules[" + std::to_string(idx) + "]";
    bool has_decision = false;
    for (const auto& kv : rv.as_object()) {
      std::string_view k = kv.key();
      const json::value& val = kv.value();
      auto str = [&](std::string_view what) {
        if (!val.is_string()) throw GateConfigError(where + "." + std::string(what) + " must be a string");
        return std::string(val.as_string());
      };
      if (k == "decision") {
        std::string d = str("decision");
        if (d == "allow") r.decision = Outcome::Allow;
        else if (d == "ask") r.decision = Outcome::Ask;
        else if (d == "deny") r.decision = Outcome::Deny;
        else throw GateConfigError(where + ".decision must be one of allow, ask, deny (got \"" + d + "\")");
        has_decision = true;
      } else if (k == "id") {
        r.id = str("id");
        if (r.id.empty()) throw GateConfigError(where + ".id must not be empty");
      } else if (k == "tool") {
        std::string t = str("tool");
        std::size_t from = 0;
        while (from <= t.size()) {
          std::size_t bar = t.find('|', from);
          std::string alt = t.substr(from, bar == std::string::npos ? std::string::npos : bar - from);
          if (!alt.empty()) r.tools.push_back(alt);
          if (bar == std::string::npos) break;
          from = bar + 1;
        }
        if (r.tools.empty()) throw GateConfigError(where + ".tool must not be empty");
      } else if (k == "path") {
        if (val.is_string()) r.paths.emplace_back(val.as_string());
        else if (val.is_array()) {
          for (const auto& e : val.as_array()) {
            if (!e.is_string()) throw GateConfigError(where + ".path entries must be strings");
            r.paths.emplace_back(e.as_string());
          }
        } else {
          throw GateConfigError(where + ".path must be a glob string or an array of globs");
        }
        for (auto& p : r.paths)
          if (p.empty()) throw GateConfigError(where + ".path must not contain empty globs");
      } else if (k == "command") {
        r.command = str("command");
        r.command_glob = has_glob_chars(r.command);
        r.command_words = split_words(r.command);
        if (r.command_words.empty()) throw GateConfigError(where + ".command must not be empty");
        if (r.command_glob) {
          // Normalise the command name (first word) to lower case like Command::name.
          std::size_t sp = r.command.find(' ');
          std::string first = text::lower(r.command.substr(0, sp));
          std::size_t sl = first.find_last_of('/');
          if (sl != std::string::npos && !has_glob_chars(first)) first = first.substr(sl + 1);
          r.command = first + (sp == std::string::npos ? "" : r.command.substr(sp));
        }
      } else if (k == "line") {
        r.line = str("line");
        if (r.line.empty()) throw GateConfigError(where + ".line must not be empty");
      } else if (k == "reason") {
        r.reason = str("reason");
      } else if (k == "overrides") {
        if (!val.is_array()) throw GateConfigError(where + ".overrides must be an array of built-in rule ids");
        for (const auto& e : val.as_array()) {
          if (!e.is_string() || e.as_string().empty())
            throw GateConfigError(where + ".overrides entries must be non-empty strings");
          std::string id(e.as_string());
          if (!id.starts_with("builtin:")) id = "builtin:" + id;
          // A glob would reopen what the floor closes: only a rule named exactly is overridden.
          if (has_glob_chars(id))
            throw GateConfigError(where + ".overrides takes exact built-in rule ids (\"builtin:git.reset-hard\"), "
                                  "not globs (got \"" + std::string(e.as_string()) + "\")");
          r.overrides.push_back(std::move(id));
        }
      } else {
        throw GateConfigError("unknown key '" + std::string(k) + "' in " + where +
                              "; expected id, decision, tool, path, command, line, reason, overrides");
      }
    }
    if (!has_decision) throw GateConfigError(where + " needs \"decision\": allow, ask or deny");
    if (r.tools.empty() && r.paths.empty() && r.command.empty() && r.line.empty())
      throw GateConfigError(where + " must constrain at least one of tool, path, command, line");
    cfg.rules.push_back(std::move(r));
    ++idx;
  }
  return cfg;
}

}  // namespace keel::hooks
