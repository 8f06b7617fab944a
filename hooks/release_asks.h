// release_asks.h — release asks (state::Store::ask_release: "agent B waits for file:/repo/api.h")
// shown to the agent they are addressed to, as context on its next hook event.
//
// Contract:
// - release_asks_pending(state_dir, who) is the fast path every hook event of an agent pays: one
//   stat() of store_common::release_ask_marker_path(state_dir, who.project, who.agent), which
//   ask_release writes and take_release_asks removes. No store is opened. False for an empty
//   state_dir (no marker to look for) and whenever the stat fails.
// - take_release_ask_context(store, who) takes the asks (Store::take_release_asks: each one is
//   then marked delivered and is not taken again) and returns the text to show the model,
//   empty when there are none (the marker was stale, or the names were released since). Call it
//   only on an event whose answer shows context to the model (context_reaches_model,
//   dialect.h), or the asks are spent unseen. Throws what the store throws.
// - release_ask_text(asks) is that text: one line per ask, oldest first,
//     keel: agent <asker> waits for <name>: <reason> — release it with lease_release, or
//     lease_renew it if you need it longer.
//   with the reason on one line (control characters become spaces) and cut at
//   kMaxAskReasonChars bytes (on a UTF-8 boundary); at most kMaxAsksShown lines, then one line
//   saying how many more there are (lease_list shows them), so the whole stays well inside the
//   agents' 10,000-character context cap.
// Thread-safety: pure functions apart from the store call; the store's own guarantees apply.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "state/store.h"

namespace keel::hooks {

inline constexpr std::size_t kMaxAsksShown = 8;
inline constexpr std::size_t kMaxAskReasonChars = 500;

bool release_asks_pending(const std::filesystem::path& state_dir, const state::Principal& who);

std::string take_release_ask_context(state::Store& store, const state::Principal& who);

std::string release_ask_text(const std::vector<state::ReleaseAsk>& asks);

}  // namespace keel::hooks
