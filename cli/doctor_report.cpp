// The findings of `keel doctor` and how they print. See doctor_report.h.
#include "cli/doctor_report.h"

#include <algorithm>

#include <boost/json.hpp>

namespace keel::cli::doctor {

namespace json = boost::json;

namespace {

std::string prefix(const Finding& f) {
  return f.agent + (f.scope.empty() ? "" : " (" + f.scope + ")") + ": ";
}

std::string without_period(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void Report::pass(const std::string& agent, const std::string& scope, const std::string& check, std::string what) {
  items_.push_back({agent, scope, check, Kind::Pass, std::move(what), {}, {}});
}

void Report::problem(const std::string& agent, const std::string& scope, const std::string& check, std::string what,
                     std::string why, std::string fix) {
  items_.push_back({agent, scope, check, Kind::Problem, std::move(what), std::move(why), std::move(fix)});
}

void Report::note(const std::string& agent, const std::string& scope, const std::string& check, std::string what) {
  items_.push_back({agent, scope, check, Kind::Note, std::move(what), {}, {}});
}

bool Report::any_problem() const {
  return std::any_of(items_.begin(), items_.end(), [](const Finding& f) { return f.kind == Kind::Problem; });
}

void print_text(const Report& r, std::ostream& out) {
  std::size_t problems = 0;
  std::size_t notes = 0;
  for (const auto& f : r.findings()) {
    switch (f.kind) {
      case Kind::Pass: out << "✓ " << prefix(f) << f.what << "\n"; break;
      case Kind::Note:
        ++notes;
        out << "• " << prefix(f) << f.what << "\n";
        break;
      case Kind::Problem:
        ++problems;
        out << "✗ " << prefix(f) << f.what << ": " << without_period(f.why) << ". Fix: " << f.fix << "\n";
        break;
    }
  }
  if (problems == 0) {
    out << "keel doctor: no problems found" << (notes ? " (read the notes above)" : "") << "\n";
  } else {
    out << "keel doctor: " << problems << (problems == 1 ? " problem" : " problems") << "\n";
  }
}

void print_json(const Report& r, std::ostream& out) {
  json::array arr;
  for (const auto& f : r.findings()) {
    json::object o;
    o["agent"] = f.agent;
    o["scope"] = f.scope.empty() ? json::value(nullptr) : json::value(f.scope);
    o["check"] = f.check;
    o["kind"] = f.kind == Kind::Pass ? "pass" : f.kind == Kind::Problem ? "problem" : "note";
    o["ok"] = f.kind != Kind::Problem;
    o["detail"] = f.why.empty() ? f.what : f.what + ": " + without_period(f.why);
    o["fix"] = f.fix.empty() ? json::value(nullptr) : json::value(f.fix);
    arr.push_back(std::move(o));
  }
  out << json::serialize(arr) << "\n";
}

}  // namespace keel::cli::doctor
