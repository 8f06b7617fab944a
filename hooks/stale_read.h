// stale_read.h — the stale-read guard (opt-in: hooks.lease_gate.stale_read).
//
// Lost updates happen when an agent edits a file from what it read a while ago, after another
// agent changed it. keel records, per agent, the content hash of each file it saw: on a
// successful PostToolUse of a Read, Write, Edit (MultiEdit, NotebookEdit: the file tools'
// paths), one journal record FILE_SEEN (subject: the absolute path; payload: sha256, "read"
// or "write", session). At the PreToolUse of a write to a path (AnalysedEvent::written_paths),
// when the file's current hash differs from the one this agent last saw and another agent's
// FILE_SEEN write record came after it, the write is denied (rule lease:stale-read) naming
// that agent and the time, so the agent re-reads instead of overwriting. A file this agent
// never saw, one that no other agent wrote since, or one that is back to what it saw is left
// alone (a person's edit outside keel is not an agent's).
//
// Cost: opt-in; a hash of each file (files over 16 MiB are skipped) and one journal write per
// read, one or two journal queries per checked write (which opens the store anyway).
// Errors: store errors propagate (the engine reports them; the guard is advisory and fails
// open). Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "hooks/analysed_event.h"
#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

inline constexpr std::string_view kFileSeen = "FILE_SEEN";

// The sha256 of the file's content; nullopt when it cannot be read or is over 16 MiB.
std::optional<std::string> file_hash(const std::string& path);

// PostToolUse of a file tool that succeeded: records what the agent saw. Returns the number of
// records written.
int record_seen(state::Store& store, const state::Principal& who, const HookEvent& ev);

// PreToolUse of a write: a deny (rule lease:stale-read) when a written path changed under
// another agent since this agent last saw it; else Continue.
HookDecision check_stale(state::Store& store, const state::Principal& who, const AnalysedEvent& ev);

}  // namespace keel::hooks
