// Shared helpers of the fanout tool tests (cli_fanout_test,
// cli_fanout_learn_test): branch builders and readers of a run's result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace keel::tools::testing::fanout {

namespace json = boost::json;

inline json::object cmd(const std::string& command, std::vector<std::string> args = {}) {
  json::array a;
  for (auto& s : args) a.push_back(json::string(s));
  return json::object{{"command", command}, {"args", a}};
}
inline json::object sh(const std::string& script) { return cmd("sh", {"-c", script}); }
inline json::object echo(const std::string& text) { return cmd("echo", {text}); }

// Branch i's entry in the run's results.
inline const json::object& branch(const json::object& run, std::size_t i) {
  return run.at("results").as_array().at(i).as_object();
}
inline std::string status_of(const json::object& run, std::size_t i) {
  return std::string(branch(run, i).at("status").as_string());
}
inline std::string error_class(const json::object& run, std::size_t i) {
  return std::string(branch(run, i).at("error").at("class").as_string());
}
inline std::string error_code(const json::object& run, std::size_t i) {
  return std::string(branch(run, i).at("error").at("code").as_string());
}
inline std::int64_t count(const json::object& run, const char* status) {
  return run.at("counts").at(status).to_number<std::int64_t>();
}

}  // namespace keel::tools::testing::fanout
