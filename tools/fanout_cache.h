// keel/tools/fanout_cache.h — the digest fanout_run's result cache keys a
// branch by (Store::fanout_cache_lookup / fanout_cache_store).
//
// The digest is the lower-case hex SHA-256 of the canonical JSON text
// (tools::canonical_json: object keys sorted bytewise at every level) of:
//   tool branch:    {"kind":"tool","tool":NAME,"arguments":ARGS,"agent":CALLER,
//                    "session":SESSION}
//                   (tool branches run as the caller: memory_get of the
//                   caller's own namespace, or of its session tier, differs
//                   between agents and sessions)
//   command branch: {"kind":"command","argv":[...],"cwd":DIR,"env":{NAME:VALUE|null}}
//                   DIR is the branch's cwd, or keel's working directory when
//                   it gives none; env holds the variables of the run's
//                   allow-list (cache.env) with their values in keel's
//                   environment (null: unset). Nothing else of the
//                   environment counts.
// Sample branches are never cached (a model's answer is not a function of
// its input).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "state/principal.h"
#include "tools/fanout_engine.h"

namespace keel::tools::fanout {

// The branch's digest, or "" when `spec` is a sample branch.
std::string branch_digest(const BranchSpec& spec, const state::Principal& who,
                          const std::vector<std::string>& env_allow_list);

}  // namespace keel::tools::fanout
