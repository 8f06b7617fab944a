// hooks_test_util.h — fixtures shared by the hooks unit tests.
#pragma once

#include <memory>

#include "state/store.h"
#include "state_test_util.h"

namespace keel::hooks::testing {

// A fresh store in a temporary directory, and two agents of project /repo.
struct TwoAgents {
  keel::state::testing::TempDir dir;
  std::unique_ptr<keel::state::Store> store;
  keel::state::Principal a{"agent-a", "/repo", "sa", keel::state::default_agent_capabilities()};
  keel::state::Principal b{"agent-b", "/repo", "sb", keel::state::default_agent_capabilities()};
  TwoAgents() {
    keel::state::StoreOptions opts;
    opts.dir = dir.path() / "state";
    opts.synchronous = keel::state::Synchronous::kNormal;
    store = keel::state::open_sqlite_store(opts);
  }
};

}  // namespace keel::hooks::testing
