// keel/state/sqlite_store_copy.cpp — StoreImaging on SQLite: a project's whole
// state out (one read snapshot) and in (one writer job), for `keel store copy`.
//
// SQLite keeps ONE hash chain and one token counter per store (meta), where
// PostgreSQL keeps one per project: so an export needs a store whose journal
// is the project's alone, and an import needs a store whose journal is empty.
#include <algorithm>
#include <set>

#include "state/journal.h"
#include "state/memory_rules.h"
#include "state/schema.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

std::string column_list(const ImageTable& t) {
  std::string out;
  for (const ImageColumn& c : t.columns) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

std::int64_t meta_int(sqlite3* db, std::string_view key) {
  sql::Statement q(db, "SELECT value FROM meta WHERE key = ?");
  q.bind(1, key);
  if (!q.step() || q.is_null(0)) {
    throw StoreError(ErrorCode::kInternal, std::string(key) + " missing from meta");
  }
  return q.int64(0);
}

// The text memory_fts indexes for a row, as memory_put writes it (state_copy
// tests search copied rows).
std::string search_body(const std::string& key, const std::string& value_text) {
  return memory_rules::search_text(key, value_text);
}

void bind_cell(sql::Statement& q, int index, const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) q.bind_null(index);
  else if (const auto* i = std::get_if<std::int64_t>(&c)) q.bind(index, *i);
  else if (const auto* d = std::get_if<double>(&c)) q.bind(index, *d);
  else q.bind(index, std::get<std::string>(c));
}

void check_shape(const Principal& who, const StateImage& image) {
  if (image.project != who.project) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "the image is of project " + image.project + ", not " + who.project);
  }
  const auto& specs = image_tables();
  if (image.tables.size() != specs.size()) {
    throw StoreError(ErrorCode::kInvalidArgument, "the image does not hold every table");
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (image.tables[i].table != specs[i].name) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "the image's table " + std::to_string(i) + " is " +
                           image.tables[i].table + ", expected " + std::string(specs[i].name));
    }
    for (const auto& row : image.tables[i].rows) {
      if (row.size() != specs[i].columns.size()) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "a row of " + image.tables[i].table + " has the wrong width");
      }
      for (std::size_t c = 0; c < row.size(); ++c) {
        const CellKind kind = specs[i].columns[c].kind;
        const bool ok = std::holds_alternative<std::monostate>(row[c]) ||
                        (kind == CellKind::kInt && std::holds_alternative<std::int64_t>(row[c])) ||
                        (kind == CellKind::kReal && std::holds_alternative<double>(row[c])) ||
                        (kind == CellKind::kText && std::holds_alternative<std::string>(row[c]));
        if (!ok) {
          throw StoreError(ErrorCode::kInvalidArgument,
                           "column " + std::string(specs[i].columns[c].name) + " of " +
                               image.tables[i].table + " holds a value of the wrong type");
        }
      }
      if (specs[i].name == "memory" && (!std::holds_alternative<std::string>(row[3]) ||
                                        !std::holds_alternative<std::string>(row[5]))) {
        throw StoreError(ErrorCode::kInvalidArgument, "a memory row without key or value");
      }
    }
  }
  for (std::size_t i = 1; i < image.records.size(); ++i) {
    if (image.records[i].seq <= image.records[i - 1].seq) {
      throw StoreError(ErrorCode::kInvalidArgument, "the image's records are not in seq order");
    }
  }
}

}  // namespace

StateImage SqliteStore::export_image(const Principal& who) {
  require(who, caps::kJournalAdmin);
  ReadConnection conn = read_connection();
  sqlite3* db = conn.get();
  sql::ReadTransaction txn(db);
  {
    sql::Statement q(db, "SELECT count(*) FROM journal WHERE project <> ?");
    q.bind(1, who.project);
    if (q.step() && q.int64(0) > 0) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "this store's journal also holds " + std::to_string(q.int64(0)) +
                           " records of other projects than " + who.project +
                           "; SQLite keeps one chain per store, which cannot be cut apart");
    }
  }
  StateImage image;
  image.project = who.project;
  {
    sql::Statement q(db, "SELECT " + std::string(kRecordColumns) + " FROM journal ORDER BY seq");
    while (q.step()) image.records.push_back(read_record(q));
  }
  image.head_seq = meta_int(db, "journal_head_seq");
  {
    sql::Statement q(db, "SELECT value FROM meta WHERE key = 'journal_head_hash'");
    if (!q.step()) throw StoreError(ErrorCode::kInternal, "journal head missing from meta");
    image.head_hash = q.text(0);
  }
  image.next_token = meta_int(db, "next_token");
  for (const ImageTable& spec : image_tables()) {
    TableImage t;
    t.table = std::string(spec.name);
    sql::Statement q(db, "SELECT " + column_list(spec) + " FROM " + t.table +
                             " WHERE project = ? ORDER BY " +
                             std::string(spec.order_by.empty() ? spec.columns[0].name
                                                               : spec.order_by));
    q.bind(1, who.project);
    while (q.step()) {
      std::vector<Cell> row;
      for (std::size_t c = 0; c < spec.columns.size(); ++c) {
        const int col = static_cast<int>(c);
        if (q.is_null(col)) row.emplace_back(std::monostate{});
        else if (spec.columns[c].kind == CellKind::kInt) row.emplace_back(q.int64(col));
        else if (spec.columns[c].kind == CellKind::kReal) row.emplace_back(q.real(col));
        else row.emplace_back(q.text(col));
      }
      t.rows.push_back(std::move(row));
    }
    image.tables.push_back(std::move(t));
  }
  txn.commit();
  return image;
}

void SqliteStore::import_image(const Principal& who, const StateImage& image) {
  require(who, caps::kJournalAdmin);
  check_shape(who, image);
  const auto& specs = image_tables();
  writer_->submit([&](sqlite3* db) {
    {
      sql::Statement q(db, "SELECT count(*) FROM journal");
      if (q.step() && q.int64(0) > 0) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "the target store's journal is not empty (" + std::to_string(q.int64(0)) +
                             " records); a copy needs a new store");
      }
    }
    for (const ImageTable& spec : specs) {
      sql::Statement q(db, "SELECT count(*) FROM " + std::string(spec.name) + " WHERE project = ?");
      q.bind(1, who.project);
      if (q.step() && q.int64(0) > 0) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "the target store already holds " + std::string(spec.name) +
                             " of project " + who.project);
      }
    }
    sql::Statement ins(db,
                       "INSERT INTO journal(seq, ts, project, principal, op, subject, payload,"
                       " prev_hash, hash, node) VALUES(?,?,?,?,?,?,?,?,?,?)");
    for (const JournalRecord& r : image.records) {
      ins.bind_all(r.seq, r.ts_ms, r.project, r.principal, r.op, r.subject, r.payload,
                   r.prev_hash, r.hash, r.node);
      ins.run();
      ins.reset();
    }
    sql::Statement(db, "UPDATE meta SET value = ? WHERE key = 'journal_head_seq'")
        .bind(1, image.head_seq)
        .run();
    sql::Statement(db, "UPDATE meta SET value = ? WHERE key = 'journal_head_hash'")
        .bind(1, image.head_hash)
        .run();
    sql::Statement(db, "UPDATE meta SET value = max(value, ?) WHERE key = 'next_token'")
        .bind(1, image.next_token)
        .run();

    for (std::size_t t = 0; t < specs.size(); ++t) {
      const ImageTable& spec = specs[t];
      const bool memory = spec.name == "memory";
      std::string marks = "?";
      for (std::size_t c = 0; c < spec.columns.size(); ++c) marks += ", ?";
      sql::Statement q(db, "INSERT INTO " + std::string(spec.name) + "(project, " +
                               column_list(spec) + ") VALUES(" + marks + ")");
      sql::Statement fts(db, "INSERT INTO memory_fts(rowid, body) VALUES(?, ?)");
      for (const auto& row : image.tables[t].rows) {
        q.bind(1, who.project);
        for (std::size_t c = 0; c < row.size(); ++c) bind_cell(q, static_cast<int>(c + 2), row[c]);
        try {
          q.run();
        } catch (const StoreError& e) {
          throw StoreError(ErrorCode::kInvalidArgument,
                           "cannot copy a row of " + std::string(spec.name) + ": " + e.what());
        }
        q.reset();
        if (memory) {
          // columns: tier, namespace, scope, key, session_id, value, ...
          const std::string key = std::get<std::string>(row[3]);
          const std::string value = std::get<std::string>(row[5]);
          fts.bind_all(static_cast<std::int64_t>(sqlite3_last_insert_rowid(db)), search_body(key, value));
          fts.run();
          fts.reset();
        }
      }
    }
  });
}

SchemaVersions SqliteStore::schema_versions() const {
  return SchemaVersions{schema_found_, latest_schema_version()};
}

}  // namespace keel::state
