// keel/state/postgres/pg_util.h — a small RAII layer over libpq for the PostgreSQL
// backend (state/postgres/pg_store.h): connections, parameterised statements, results,
// transactions, LISTEN/NOTIFY, and the mapping of PostgreSQL's errors to
// StoreError codes.
//
// Every statement is sent with PQexecParams / PQexecPrepared and text
// parameters: values are never spliced into SQL text. Results are read as
// text and converted here. Several prepared statements may go out in one
// round trip (libpq pipeline mode: defer, exec_pipeline), under the same
// deadlines and error mapping as one.
//
// Errors (StoreError):
//   * the connection is lost, refused, or the server shuts down (SQLSTATE
//     class 08, 57P01..57P03), a statement_timeout or lock_timeout fired
//     (57014, 55P03), a serialization failure or deadlock (40001, 40P01):
//     kBusy — the caller may retry; a lost connection is marked broken() and
//     the pool drops it;
//   * a unique violation (23505): kInternal, but PgError::unique_violation()
//     tells it apart for callers that expect one (e.g. an insert race);
//   * text PostgreSQL cannot hold (a NUL byte, refused before sending; invalid
//     UTF-8, SQLSTATE 22021): kInvalidArgument;
//   * anything else: kInternal, with the server's message.
// The connection URL (and so its password) never appears in a message.
//
// Thread safety: a Connection is used by one thread at a time (the pool in
// PgStore hands each out to one caller); Result is a value.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/principal.h"

struct pg_conn;    // PGconn
struct pg_result;  // PGresult

namespace keel::state::pg {

// A StoreError that carries the server's SQLSTATE ("" when the failure was
// on the client side, e.g. a lost connection).
class PgError : public StoreError {
 public:
  PgError(ErrorCode code, const std::string& message, std::string sqlstate)
      : StoreError(code, message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool unique_violation() const { return sqlstate_ == "23505"; }

 private:
  std::string sqlstate_;
};

// One statement parameter, sent as text; nullopt is SQL NULL.
class Param {
 public:
  Param(std::nullopt_t) {}                                   // NOLINT: implicit by design
  Param(std::string_view v) : value_(std::string(v)) {}      // NOLINT
  Param(const std::string& v) : value_(v) {}                 // NOLINT
  Param(const char* v) : value_(std::string(v)) {}           // NOLINT
  Param(std::int64_t v) : value_(std::to_string(v)) {}       // NOLINT
  Param(int v) : value_(std::to_string(v)) {}                // NOLINT
  Param(bool v) : value_(v ? "t" : "f") {}                   // NOLINT
  Param(std::optional<std::string> v) : value_(std::move(v)) {}           // NOLINT
  Param(std::optional<std::int64_t> v) {                                  // NOLINT
    if (v) value_ = std::to_string(*v);
  }
  const std::optional<std::string>& value() const { return value_; }

 private:
  std::optional<std::string> value_;
};

// The rows a statement returned (or none). Owns its PGresult.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* r);
  ~Result();
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  int columns() const;
  // Rows changed by INSERT/UPDATE/DELETE (PQcmdTuples), 0 otherwise.
  std::int64_t affected() const;
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;        // "" for NULL
  std::int64_t int64(int row, int col) const;      // 0 for NULL; throws kInternal on non-integers
  double real(int row, int col) const;             // 0 for NULL
  bool boolean(int row, int col) const;            // 't' → true
  std::optional<std::string> opt_text(int row, int col) const;
  std::optional<std::int64_t> opt_int64(int row, int col) const;

 private:
  pg_result* r_ = nullptr;
};

struct Notification {
  std::string channel;
  std::string payload;
};

// Connection settings besides the URL.
struct ConnectOptions {
  int connect_timeout_ms = 5000;    // libpq connect_timeout (rounded up to s)
  int statement_timeout_ms = 10000; // SET statement_timeout; 0: none
  // The longest the client waits for one statement's answer (a paused
  // server never answers, and no server-side timeout fires): then the
  // connection is marked broken and the statement fails with kBusy. Also
  // tcp_user_timeout. 0: no client-side bound.
  int io_timeout_ms = 12000;
  std::string application_name = "keel";
  // An absolute bound on the connect and on every statement of the new
  // connection until Connection::clear_call_deadline (the whole store call
  // it serves). Default: none.
  std::chrono::steady_clock::time_point call_deadline = std::chrono::steady_clock::time_point::max();
};

// An owned PGconn.
class Connection {
 public:
  Connection() = default;
  // Connects; throws PgError(kBusy) when the server cannot be reached (the
  // caller may retry later) and kInternal for a bad URL or credentials —
  // both with a one-line message that names the host and database but never
  // the password.
  static Connection open(const std::string& url, const ConnectOptions& options);
  ~Connection();
  Connection(Connection&& o) noexcept;
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  explicit operator bool() const { return conn_ != nullptr; }
  pg_conn* get() const { return conn_; }
  // True once a statement failed because the connection itself is gone (or
  // its state is unknown, e.g. a timeout mid-transaction): drop it.
  bool broken() const;
  // Tests only: shuts the socket down, as a network failure would; the
  // server sees its client gone and the connection is marked broken.
  void cut();

  // Runs one statement (several when there are no params) and returns its rows.
  Result exec(std::string_view sql);
  Result exec(std::string_view sql, const std::vector<Param>& params);
  // As exec, through a statement prepared once per connection under `name`
  // (the same name must always carry the same SQL).
  Result exec_prepared(const char* name, std::string_view sql,
                       const std::vector<Param>& params);

  // Queues a statement whose rows nobody reads (a write inside a
  // transaction, checked only for "no error"): it goes out with the next
  // exec / exec_prepared / exec_pipeline / flush, in order, in one round trip
  // (libpq pipeline mode), and an error it raises is thrown there. A
  // parameter PostgreSQL cannot hold is refused here, at once. `name`
  // follows exec_prepared's rule (one name, one SQL text).
  void defer(const char* name, std::string_view sql, std::vector<Param> params);
  // Sends what defer() queued and waits for it; throws its first error.
  void flush();
  // Forgets what defer() queued without sending it (the transaction it
  // belonged to is being rolled back).
  void discard_deferred() { deferred_.clear(); }
  bool has_deferred() const { return !deferred_.empty(); }

  // One prepared statement of exec_pipeline.
  struct Statement {
    const char* name;
    std::string_view sql;
    std::vector<Param> params;
  };
  // Runs what defer() queued and then `statements`, in order, in one round
  // trip; returns the rows of each of `statements`. The first error of any
  // of them is thrown (those after it did not run).
  std::vector<Result> exec_pipeline(const std::vector<Statement>& statements);

  // Notifications received so far (after exec, or after wait_for_notification).
  std::vector<Notification> take_notifications();
  // Changes the client-side bound for the statements that follow (e.g. a
  // long compaction); see ConnectOptions::io_timeout_ms.
  void set_deadline_ms(int ms) { deadline_ms_ = ms; }
  // An absolute bound on every statement that follows, on top of the
  // per-statement one: a store call's whole budget, so that a call of many
  // statements against a paused server still ends within its call timeout.
  void set_call_deadline(std::chrono::steady_clock::time_point t) { call_deadline_ = t; }
  void clear_call_deadline() { call_deadline_ = std::chrono::steady_clock::time_point::max(); }

  // Waits up to timeout_ms for the server to send something (a NOTIFY), or
  // until `interrupt_fd` (when ≥ 0) becomes readable; returns true when input
  // from the server arrived. Throws PgError(kBusy) when the connection was
  // lost.
  bool wait_for_notification(int timeout_ms, int interrupt_fd = -1);

  // Quotes an identifier ("schema"."name") for the few statements that need
  // one (LISTEN, SET search_path).
  std::string quote_identifier(std::string_view name) const;

 private:
  explicit Connection(pg_conn* c) : conn_(c) {}
  [[noreturn]] void fail(pg_result* r, std::string_view what);
  Result check(pg_result* r, std::string_view what);
  Result await_result(std::string_view what);
  // Waits until `deadline` for more of the server's answer and reads it in;
  // throws kBusy (the connection marked broken) when the time ran out or
  // the connection failed. `call_bound`: the deadline is the call's.
  void read_more(std::chrono::steady_clock::time_point deadline, bool call_bound,
                 std::string_view what);
  // A statement on its way into a pipeline (owns its text and values).
  struct Queued {
    std::string name;
    std::string sql;
    std::vector<Param> params;
  };
  // Sends `qs` in one pipeline and returns each one's rows (see exec_pipeline).
  std::vector<Result> run_pipeline(const std::vector<Queued>& qs, std::string_view what);

  pg_conn* conn_ = nullptr;
  bool broken_ = false;
  int deadline_ms_ = 10000;  // client-side bound on one statement's answer
  std::chrono::steady_clock::time_point call_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::vector<std::string> prepared_;  // names prepared on this connection
  std::vector<Queued> deferred_;       // defer()red, not sent yet
};

// BEGIN on construction, ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  // `isolation`: "" (READ COMMITTED), or e.g. "REPEATABLE READ".
  explicit Transaction(Connection& c, std::string_view isolation = {});
  // Tag of the constructor that defers BEGIN (Connection::defer): it goes
  // out with the transaction's first statement, in its round trip.
  struct DeferBegin {};
  Transaction(Connection& c, DeferBegin);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

// The URL with its password (in user:password@ or password=) replaced by
// "***", for messages and logs.
std::string redact_url(std::string_view url);

// True for postgres:// and postgresql:// URLs (and libpq key=value strings
// that start with "host=" or "dbname=").
bool is_postgres_url(std::string_view url);

}  // namespace keel::state::pg
