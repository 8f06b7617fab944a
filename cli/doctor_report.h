// keel/cli/doctor_report.h — what `keel doctor` found, and its two printed
// forms: one line per finding (✓ pass, ✗ problem with why and fix, • note)
// and, under --json, [{agent, scope, check, kind, ok, detail, fix}].
// Both forms are read by people and scripts: their wording is an interface.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace keel::cli::doctor {

enum class Kind { Pass, Problem, Note };

struct Finding {
  std::string agent;  // "claude" … or "keel"
  std::string scope;  // "project", "user" or ""
  std::string check;  // a short id: "config", "mcp_binary", "hooks_trust" …
  Kind kind = Kind::Pass;
  std::string what;
  std::string why;  // problems (and some notes): the reason
  std::string fix;  // problems: what to do
};

// The findings in the order they were made.
class Report {
 public:
  void pass(const std::string& agent, const std::string& scope, const std::string& check, std::string what);
  void problem(const std::string& agent, const std::string& scope, const std::string& check, std::string what,
               std::string why, std::string fix);
  void note(const std::string& agent, const std::string& scope, const std::string& check, std::string what);

  const std::vector<Finding>& findings() const { return items_; }
  bool any_problem() const;

 private:
  std::vector<Finding> items_;
};

// The findings, then a summary line ("keel doctor: no problems found" / "N problems").
void print_text(const Report& r, std::ostream& out);

// The findings as one JSON array on one line.
void print_json(const Report& r, std::ostream& out);

}  // namespace keel::cli::doctor
