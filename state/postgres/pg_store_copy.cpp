// keel/state/postgres/pg_store_copy.cpp — StoreImaging on PostgreSQL: a
// project's whole state out (one REPEATABLE READ snapshot) and in (one write
// job under the project's head lock), for `keel store copy`
// (state/store_copy.h).
//
// PostgreSQL keeps one hash chain and one token counter per project
// (chain_heads), so any project of a shared database can be exported, and an
// import only needs the target project to be empty (other projects of the
// same database are left alone).
//
// Import writes records verbatim (never through Write::append, which would
// re-hash them and stamp this node), and hands the image's head and token
// counter to run_write through the Write (it writes chain_heads back at
// commit). Differences from SQLite:
//   * PostgreSQL text holds neither NUL nor invalid UTF-8 (SQLite stores any
//     bytes): an image with such text is refused (kInvalidArgument) before
//     anything is written, rather than stored cut short.
//   * Escalation ids are one identity sequence for the whole database: an id
//     another project of the target already uses is refused
//     (kInvalidArgument), and the sequence is moved past the image's ids
//     before they are inserted (setval is not transactional: a failed import
//     may leave a gap in the ids, never a reuse).
#include <algorithm>
#include <charconv>
#include <set>

#include "state/journal.h"
#include "state/memory_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_leases_util.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;

namespace {

// Journal records per page of an export (as the journal's whole-chain reads).
constexpr int kRecordPage = 5000;
// Memory rows per page of an export: a row may hold 64 KiB of value.
constexpr int kMemoryPage = 500;
// One multi-row INSERT of an import carries at most this many rows, this
// many parameters (PostgreSQL's limit is 65535) and about this many bytes.
constexpr std::size_t kInsertRows = 500;
constexpr std::size_t kInsertParams = 30000;
constexpr std::size_t kInsertBytes = 8u << 20;

std::string column_list(const ImageTable& t) {
  std::string out;
  for (const ImageColumn& c : t.columns) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

// The order an export reads a table in: memory and escalations by id (the
// target then numbers memory rows in the source's order), the others by
// their key.
std::string_view order_of(const ImageTable& spec) {
  const std::string_view table = spec.name;
  if (!spec.order_by.empty()) return spec.order_by;
  if (table == "memory" || table == "escalations") return "id";
  if (table == "lease_requests") return "holder, request_id";
  if (table == "escalation_buckets") return "agent";
  if (table == "agents" || table == "lease_capacities") return "name";
  if (table == "lease_asks") return "ask_id";
  return "lease_id";  // leases, lease_tombstones
}

Cell read_cell(const pg::Result& r, int row, int col, CellKind kind) {
  if (r.is_null(row, col)) return std::monostate{};
  switch (kind) {
    case CellKind::kInt:
      return r.int64(row, col);
    case CellKind::kReal:
      return r.real(row, col);
    case CellKind::kText:
      break;
  }
  return r.text(row, col);
}

pg::Param cell_param(const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) return std::nullopt;
  if (const auto* i = std::get_if<std::int64_t>(&c)) return *i;
  if (const auto* d = std::get_if<double>(&c)) {
    // Shortest text that reads back as the same double.
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, res.ptr);
  }
  return std::get<std::string>(c);
}

std::size_t cell_bytes(const Cell& c) {
  if (const auto* s = std::get_if<std::string>(&c)) return s->size();
  return 8;
}

// The text memory_search indexes for a row, as memory_put writes it (the
// copy tests search copied rows).
std::string search_body(const std::string& key, const std::string& value_text) {
  return pg_memory_text::search_body(memory_rules::search_text(key, value_text));
}

void refuse_text(std::string_view what, std::string_view v) {
  if (!pg_lease_util::is_text(v)) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "cannot copy to PostgreSQL: " + std::string(what) +
                         " is not UTF-8 text without NUL bytes");
  }
}

std::string_view kind_name(CellKind k) {
  return k == CellKind::kInt ? "an integer" : k == CellKind::kReal ? "a real" : "text";
}

// Refuses an image this store cannot take as it is, before anything is
// written: another project, tables missing or misnamed, rows of the wrong
// width or cell kinds, records out of seq order or of another project, text
// PostgreSQL cannot hold.
void check_image(const Principal& who, const StateImage& image) {
  if (image.project != who.project) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "the image is of project " + image.project + ", not " + who.project);
  }
  if (image.head_seq < 0 || image.next_token < 1) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "the image's head seq or next token is out of range");
  }
  refuse_text("the image's head hash", image.head_hash);
  for (std::size_t i = 0; i < image.records.size(); ++i) {
    const JournalRecord& r = image.records[i];
    if (i > 0 && r.seq <= image.records[i - 1].seq) {
      throw StoreError(ErrorCode::kInvalidArgument, "the image's records are not in seq order");
    }
    if (r.project != who.project) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "record " + std::to_string(r.seq) + " is of project " + r.project +
                           ", not " + who.project);
    }
    const std::string what = "record " + std::to_string(r.seq) + "'s ";
    refuse_text(what + "principal", r.principal);
    refuse_text(what + "op", r.op);
    refuse_text(what + "subject", r.subject);
    refuse_text(what + "payload", r.payload);
    refuse_text(what + "prev_hash", r.prev_hash);
    refuse_text(what + "hash", r.hash);
    refuse_text(what + "node", r.node);
  }
  const std::vector<ImageTable>& specs = image_tables();
  if (image.tables.size() != specs.size()) {
    throw StoreError(ErrorCode::kInvalidArgument, "the image does not hold every table");
  }
  for (std::size_t t = 0; t < specs.size(); ++t) {
    const ImageTable& spec = specs[t];
    const TableImage& table = image.tables[t];
    if (table.table != spec.name) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "the image's table " + std::to_string(t) + " is " + table.table +
                           ", expected " + std::string(spec.name));
    }
    for (const std::vector<Cell>& row : table.rows) {
      if (row.size() != spec.columns.size()) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "a row of " + table.table + " has the wrong width");
      }
      for (std::size_t c = 0; c < row.size(); ++c) {
        const ImageColumn& col = spec.columns[c];
        const Cell& cell = row[c];
        const CellKind k = col.kind;
        const bool fits = std::holds_alternative<std::monostate>(cell) ||
                          (k == CellKind::kInt && std::holds_alternative<std::int64_t>(cell)) ||
                          (k == CellKind::kReal && std::holds_alternative<double>(cell)) ||
                          (k == CellKind::kText && std::holds_alternative<std::string>(cell));
        const std::string what = table.table + "." + std::string(col.name);
        if (!fits) {
          throw StoreError(ErrorCode::kInvalidArgument,
                           "a row's " + what + " is not " + std::string(kind_name(col.kind)));
        }
        if (const auto* s = std::get_if<std::string>(&cell)) refuse_text("a row's " + what, *s);
      }
    }
  }
}

std::size_t column_index(const ImageTable& spec, std::string_view name) {
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    if (spec.columns[i].name == name) return i;
  }
  throw StoreError(ErrorCode::kInternal, "image table " + std::string(spec.name) +
                                             " has no column " + std::string(name));
}

// Inserts rows through multi-row INSERTs of at most kInsertRows rows /
// kInsertParams parameters / ~kInsertBytes. `head` is the statement up to
// VALUES; `tuple(first_param)` is one row's "(...)" starting at $first_param;
// `add(row, params)` appends a row's parameters.
template <class Tuple, class Add>
void insert_chunked(pg::Connection& c, const std::string& head, std::size_t rows,
                    std::size_t params_per_row, Tuple&& tuple, Add&& add) {
  const std::size_t per_chunk =
      std::max<std::size_t>(1, std::min(kInsertRows, kInsertParams / params_per_row));
  std::size_t i = 0;
  while (i < rows) {
    std::string sql = head;
    std::vector<pg::Param> params;
    std::size_t bytes = 0;
    for (std::size_t n = 0; i < rows && n < per_chunk && bytes < kInsertBytes; ++n, ++i) {
      sql += n == 0 ? " " : ", ";
      sql += tuple(params.size() + 1);
      bytes += add(i, params);
    }
    c.exec(sql, params);
  }
}

// "($k, $k+1, ..., $k+n-1" without the closing parenthesis.
std::string placeholders(std::size_t first, std::size_t n) {
  std::string out = "(";
  for (std::size_t j = 0; j < n; ++j) {
    out += (j == 0 ? "$" : ", $") + std::to_string(first + j);
  }
  return out;
}

}  // namespace

StateImage PgStore::export_image(const Principal& who) {
  require(who, caps::kJournalAdmin);
  const LongCall whole_store;  // bounded per statement, not as a whole
  return read(
      [&](pg::Connection& c) {
        StateImage image;
        image.project = who.project;
        image.head_hash = kZeroHash;
        {
          const pg::Result r = c.exec(
              "SELECT head_seq, head_hash, next_token FROM chain_heads WHERE project = $1",
              {who.project});
          if (r.rows() > 0) {  // a project that never wrote has no row: empty
            image.head_seq = r.int64(0, 0);
            image.head_hash = r.text(0, 1);
            image.next_token = r.int64(0, 2);
          }
        }
        // The chain, ascending, in keyset pages (no seq bound on the first:
        // a record with any seq is carried).
        const std::string cols = "SELECT " + std::string(kRecordColumns) + " FROM journal";
        const std::string limit = " ORDER BY seq LIMIT " + std::to_string(kRecordPage);
        std::optional<std::int64_t> after;
        for (;;) {
          const pg::Result r =
              after ? c.exec(cols + " WHERE project = $1 AND seq > $2" + limit,
                             {who.project, *after})
                    : c.exec(cols + " WHERE project = $1" + limit, {who.project});
          for (int i = 0; i < r.rows(); ++i) image.records.push_back(read_record(r, i));
          if (r.rows() < kRecordPage) break;
          after = image.records.back().seq;
        }
        for (const ImageTable& spec : image_tables()) {
          TableImage t;
          t.table = std::string(spec.name);
          const int width = static_cast<int>(spec.columns.size());
          const auto take = [&](const pg::Result& r) {
            for (int i = 0; i < r.rows(); ++i) {
              std::vector<Cell> row;
              row.reserve(spec.columns.size());
              for (int col = 0; col < width; ++col) {
                const CellKind kind = spec.columns[static_cast<std::size_t>(col)].kind;
                row.push_back(read_cell(r, i, col, kind));
              }
              t.rows.push_back(std::move(row));
            }
          };
          if (spec.name == "memory") {
            // Paged by id (selected after the image's columns).
            const std::string sql = "SELECT " + column_list(spec) + ", id FROM memory" +
                                    " WHERE project = $1 AND id > $2 ORDER BY id LIMIT " +
                                    std::to_string(kMemoryPage);
            std::int64_t last = 0;
            for (;;) {
              const pg::Result r = c.exec(sql, {who.project, last});
              take(r);
              if (r.rows() < kMemoryPage) break;
              last = r.int64(r.rows() - 1, width);
            }
          } else {
            take(c.exec("SELECT " + column_list(spec) + " FROM " + t.table +
                            " WHERE project = $1 ORDER BY " + std::string(order_of(spec)),
                        {who.project}));
          }
          image.tables.push_back(std::move(t));
        }
        return image;
      },
      /*snapshot=*/true);
}

void PgStore::import_image(const Principal& who, const StateImage& image) {
  require(who, caps::kJournalAdmin);
  const LongCall whole_store;  // bounded per statement, not as a whole
  check_image(who, image);
  const std::vector<ImageTable>& specs = image_tables();

  // What the job needs besides the image, computed once (the job may run
  // more than once): memory's search bodies, the escalation ids, and the
  // least token counter that stays above every token the image holds.
  std::vector<std::string> bodies;
  std::vector<std::int64_t> escalation_ids;
  std::int64_t next_token = image.next_token;
  for (std::size_t t = 0; t < specs.size(); ++t) {
    const ImageTable& spec = specs[t];
    const auto& rows = image.tables[t].rows;
    if (spec.name == "memory") {
      const std::size_t key = column_index(spec, "key");
      const std::size_t value = column_index(spec, "value");
      const std::size_t fence = column_index(spec, "fence_token");
      for (const auto& row : rows) {
        const auto* k = std::get_if<std::string>(&row[key]);
        const auto* v = std::get_if<std::string>(&row[value]);
        bodies.push_back(search_body(k ? *k : std::string(), v ? *v : std::string()));
        if (const auto* f = std::get_if<std::int64_t>(&row[fence])) {
          next_token = std::max(next_token, *f + 1);
        }
      }
    } else if (spec.name == "leases") {
      const std::size_t token = column_index(spec, "token");
      for (const auto& row : rows) {
        if (const auto* v = std::get_if<std::int64_t>(&row[token])) {
          next_token = std::max(next_token, *v + 1);
        }
      }
    } else if (spec.name == "escalations") {
      const std::size_t id = column_index(spec, "id");
      for (const auto& row : rows) {
        const auto* v = std::get_if<std::int64_t>(&row[id]);
        if (v == nullptr || *v < 1) {
          throw StoreError(ErrorCode::kInvalidArgument, "an escalation of the image has no id");
        }
        escalation_ids.push_back(*v);
      }
    }
  }

  write(who.project, [&](Write& w) {
    // Refuse a project that holds anything: its chain, its tokens, any row.
    if (w.head_seq != 0 || w.token_counter != 1) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "the target already holds state of project " + who.project +
                           " (its journal head is at seq " + std::to_string(w.head_seq) +
                           "); a copy needs an empty project");
    }
    if (w.c.exec("SELECT 1 FROM journal WHERE project = $1 LIMIT 1", {who.project}).rows() > 0) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "the target already holds journal records of project " + who.project);
    }
    for (const ImageTable& spec : specs) {
      if (w.c.exec("SELECT 1 FROM " + std::string(spec.name) + " WHERE project = $1 LIMIT 1",
                   {who.project})
              .rows() > 0) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "the target already holds " + std::string(spec.name) + " of project " +
                             who.project);
      }
    }
    if (!escalation_ids.empty()) {
      const pg::Result taken = w.c.exec(
          "SELECT id, project FROM escalations WHERE id = ANY($1::bigint[]) ORDER BY id LIMIT 1",
          {pg_array(escalation_ids)});
      if (taken.rows() > 0) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "escalation id " + taken.text(0, 0) +
                             " of the image is taken by project " + taken.text(0, 1) +
                             " in the target database");
      }
      // Past the image's ids before inserting them, so that another
      // project's escalation filed meanwhile draws a higher id.
      const std::int64_t top = *std::max_element(escalation_ids.begin(), escalation_ids.end());
      w.c.exec(
          "SELECT setval(s, $1) FROM"
          " (SELECT pg_get_serial_sequence('escalations', 'id')::regclass AS s) q"
          " WHERE coalesce(pg_sequence_last_value(s), 0) < $1",
          {top});
    }

    const auto failed = [](std::string_view what, const pg::PgError& e) {
      // A busy or lost connection stays what it is (run_write retries it);
      // a row the table refuses (a constraint) is bad input.
      if (e.code() == ErrorCode::kBusy) throw;
      throw StoreError(ErrorCode::kInvalidArgument,
                       "cannot copy the " + std::string(what) + ": " + e.what());
    };

    try {
      insert_chunked(
          w.c,
          "INSERT INTO journal(project, seq, ts, principal, op, subject, payload, prev_hash,"
          " hash, node) VALUES",
          image.records.size(), 10, [](std::size_t k) { return placeholders(k, 10) + ")"; },
          [&](std::size_t i, std::vector<pg::Param>& p) {
            const JournalRecord& r = image.records[i];
            p.insert(p.end(), {pg::Param(r.project), r.seq, r.ts_ms, r.principal, r.op,
                               r.subject, r.payload, r.prev_hash, r.hash, r.node});
            return r.payload.size() + r.subject.size() + 200;
          });
    } catch (const pg::PgError& e) {
      failed("journal records", e);
    }

    for (std::size_t t = 0; t < specs.size(); ++t) {
      const ImageTable& spec = specs[t];
      const auto& rows = image.tables[t].rows;
      if (rows.empty()) continue;
      const bool memory = spec.name == "memory";
      const std::size_t width = spec.columns.size() + 1;  // + project
      std::string head = "INSERT INTO " + std::string(spec.name) + "(project, " +
                         column_list(spec) + (memory ? ", search" : "") + ")";
      // Escalation ids are kept: journal records and waiting agents name them.
      if (spec.name == "escalations") head += " OVERRIDING SYSTEM VALUE";
      head += " VALUES";
      try {
        insert_chunked(
            w.c, head, rows.size(), width + (memory ? 1 : 0),
            [&](std::size_t k) {
              // memory: the search vector from its body, as memory_put builds it.
              return placeholders(k, width) +
                     (memory ? ", to_tsvector('english', $" + std::to_string(k + width) + "))"
                             : std::string(")"));
            },
            [&](std::size_t i, std::vector<pg::Param>& p) {
              std::size_t bytes = 0;
              p.emplace_back(who.project);
              for (const Cell& cell : rows[i]) {
                p.push_back(cell_param(cell));
                bytes += cell_bytes(cell);
              }
              if (memory) {
                p.emplace_back(bodies[i]);
                bytes += bodies[i].size();
              }
              return bytes;
            });
      } catch (const pg::PgError& e) {
        failed("rows of " + std::string(spec.name), e);
      }
    }

    // The image's head and token counter; run_write writes them to
    // chain_heads at commit.
    w.head_seq = image.head_seq;
    w.head_hash = image.head_hash;
    w.token_counter = next_token;
    w.head_dirty = true;
  });
}

SchemaVersions PgStore::schema_versions() const { return schema_versions_; }

}  // namespace keel::state
