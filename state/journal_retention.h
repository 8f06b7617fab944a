// keel/state/journal_retention.h — journal.retention: folds a project's old
// journal records into a CHECKPOINT on its own (Store::journal_compact with
// CompactOptions::through_seq), after writing them to an export file when
// configured, so that the journal and the database stop growing.
//
// What is folded: the records older than max_age_ms and/or beyond the newest
// max_records (a record is folded when either limit says so); never the
// head, so a pass never appends a record of its own to the chain it cuts
// and never moves the head. A pass works in steps of at most batch_records
// records (each step one short write job: the commit path waits at most one
// step, never the whole backlog).
//
// Each step: export [from, through] to
//   export_dir/<project>-<from>-<through>.jsonl   (or .jsonl.gz, gzip)
// (<project> with every byte outside [A-Za-z0-9._-] as '_'), written to a
// temporary name, fsynced, renamed and the directory fsynced; only then
// journal_compact(through). A crash between the two leaves a file whose
// records are still in the journal: the next pass writes them again (a record
// may be in two files, never in none). The export starts after this policy's
// own partial CHECKPOINT (its records are in earlier files); a full
// CHECKPOINT written by `keel journal compact` is exported like any record.
// With export_dir empty (an explicit choice in the config) records are
// folded without being kept anywhere.
//
// Concurrency: keel serve runs one pass at a time per project across
// processes and nodes, under the lease kRetentionLease (cli/serve_retention.cpp);
// the functions here take no lock of their own and are safe to call from any
// thread (the Store is thread-safe). Two passes at once would still be safe
// (compaction is one write job and a cut already folded folds nothing), only
// wasteful.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "state/store.h"

namespace keel::state {

inline constexpr std::string_view kRetentionLease = "retention:journal";

struct RetentionOptions {
  std::int64_t max_age_ms = 0;   // 0: no age limit
  std::int64_t max_records = 0;  // 0: no count limit (else >= 1)
  std::filesystem::path export_dir;  // empty: fold without exporting
  bool compress = true;              // gzip the export files (.jsonl.gz)
  std::int64_t interval_ms = 60'000;      // between passes
  std::int64_t batch_records = 10'000;    // records per step
  bool enabled() const { return max_age_ms > 0 || max_records > 0; }
};

struct RetentionReport {
  std::int64_t folded_records = 0;    // records replaced by checkpoints
  std::int64_t exported_records = 0;  // lines written to export files
  std::int64_t through_seq = 0;       // the last cut (0: nothing folded)
  std::vector<std::filesystem::path> files;  // export files written
};

// The last seq a pass at `now_ms` would fold for who.project (0: none): the
// older of the limits' cuts, never the head.
std::int64_t retention_cut(Store& store, const Principal& who, const RetentionOptions& options,
                           std::int64_t now_ms);

// One pass: exports and folds up to retention_cut(), in steps. `between_steps`
// runs before each step and may throw to stop the pass (the worker renews its
// lease there). Throws StoreError or std::runtime_error (an export that could
// not be written: nothing is folded then).
RetentionReport run_retention_pass(Store& store, const Principal& who,
                                   const RetentionOptions& options, std::int64_t now_ms,
                                   const std::function<void()>& between_steps = {});

// The export file name of [from, through] for `project` (see above).
std::string retention_export_name(std::string_view project, std::int64_t from,
                                  std::int64_t through, bool compress);

}  // namespace keel::state
