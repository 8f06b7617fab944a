// keel/state/store_copy.h — a project's whole state as plain values, so that
// `keel store copy` can move it between backends (SQLite <-> PostgreSQL), and
// the schema versions `keel store migrate` reports.
//
// A backend offers this by implementing StoreImaging beside Store (the CLI
// finds it with dynamic_cast; a backend without it cannot be copied from or
// to). Both backends keep the same tables under the same column names
// (state/schema.cpp, state/postgres/pg_store_*.cpp), so an image is a list of
// tables, each with the columns image_tables() names, in that order.
//
// What a copy keeps: every journal record verbatim (seq, hashes, nodes: the
// target's `journal verify` checks the very chain the source wrote), the
// chain head and the fencing-token counter (tokens keep increasing), the
// leases (with their units and groups), their tombstones and idempotency
// records (with their args hashes), declared lease capacities and release
// asks (not the fair queue: its rows belong to calls waiting on the source),
// memory rows with their versions, TTLs and fence tokens (the target
// rebuilds its search index), escalations with their ids (journal records
// and waiting agents name them) and token buckets, the agent registry, the
// idempotency records of tool calls (a retried call is answered from its
// record on the target too; an uncompleted claim is taken over when it goes
// stale, as on the source), and fanout's result cache and circuit breakers.
// Memory row ids are not kept (no record names them; the target numbers its
// rows).
//
// Thread safety: as Store. Errors: StoreError, as below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state/journal_types.h"
#include "state/principal.h"

namespace keel::state {

// One cell: NULL, an integer, a real or text.
using Cell = std::variant<std::monostate, std::int64_t, double, std::string>;

enum class CellKind { kInt, kReal, kText };

struct ImageColumn {
  std::string_view name;
  CellKind kind;
};

// A table an image carries: its columns besides `project` (every row of an
// image belongs to the image's project).
struct ImageTable {
  std::string_view name;
  std::vector<ImageColumn> columns;
  // The order an export reads the rows in (the table's key); empty: the
  // first column, or the backend's own rule (memory and escalations by id).
  std::string_view order_by = {};
};

// The tables of an image, in the order an import inserts them.
const std::vector<ImageTable>& image_tables();

// The rows of one table, each as many cells as image_tables()'s columns.
struct TableImage {
  std::string table;
  std::vector<std::vector<Cell>> rows;
};

struct StateImage {
  std::string project;
  std::vector<JournalRecord> records;  // ascending seq, verbatim
  std::int64_t head_seq = 0;           // the chain's head (0 and kZeroHash: empty)
  std::string head_hash;
  std::int64_t next_token = 1;         // the next fencing token to hand out
  std::vector<TableImage> tables;      // one per image_tables() entry, same order
};

// The schema versions of an open store: the one it found when it opened
// (0: the store was created then) and the one it has now.
struct SchemaVersions {
  int found = 0;
  int now = 0;
};

class StoreImaging {
 public:
  virtual ~StoreImaging() = default;

  // who.project's whole state, read in one snapshot. Needs caps::kJournalAdmin.
  // SQLite keeps one chain per store: a store whose journal also holds other
  // projects' records cannot be cut apart and is refused (kInvalidArgument).
  virtual StateImage export_image(const Principal& who) = 0;

  // Writes `image` as who.project's state in one transaction. Needs
  // caps::kJournalAdmin; image.project must be who.project
  // (kInvalidArgument). Refused (kInvalidArgument) when the target already
  // holds any state of who.project (on SQLite, any journal record at all: the
  // chain is the store's), or an escalation id the image carries.
  virtual void import_image(const Principal& who, const StateImage& image) = 0;

  virtual SchemaVersions schema_versions() const = 0;
};

}  // namespace keel::state
