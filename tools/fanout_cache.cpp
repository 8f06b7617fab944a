#include "tools/fanout_cache.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <boost/json.hpp>

#include "crypto/sha256.h"
#include "tools/tool_support.h"

namespace keel::tools::fanout {

namespace json = boost::json;

namespace {

// The directory a command branch runs in, as the digest names it.
std::string effective_cwd(const std::string& cwd) {
  std::error_code ec;
  std::filesystem::path p = cwd.empty() ? std::filesystem::current_path(ec) : std::filesystem::path(cwd);
  if (ec) return cwd;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(p, ec);
  return ec ? p.string() : canonical.string();
}

}  // namespace

std::string branch_digest(const BranchSpec& spec, const state::Principal& who,
                          const std::vector<std::string>& env_allow_list) {
  json::object key;
  switch (spec.kind) {
    case BranchSpec::Kind::kSample:
      return "";
    case BranchSpec::Kind::kTool:
      key = json::object{{"kind", "tool"}, {"tool", spec.tool}, {"arguments", spec.arguments},
                         {"agent", who.agent}, {"session", who.session_id}};
      break;
    case BranchSpec::Kind::kCommand: {
      json::array argv;
      for (const auto& a : spec.command.argv) argv.emplace_back(a);
      json::object env;
      for (const auto& name : env_allow_list) {
        const char* value = std::getenv(name.c_str());
        env[name] = value ? json::value(value) : json::value(nullptr);
      }
      key = json::object{{"kind", "command"},
                         {"argv", std::move(argv)},
                         {"cwd", effective_cwd(spec.command.cwd)},
                         {"env", std::move(env)}};
      break;
    }
  }
  return crypto::sha256_hex(canonical_json(key));
}

}  // namespace keel::tools::fanout
