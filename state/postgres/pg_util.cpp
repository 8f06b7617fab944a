// keel/state/postgres/pg_util.cpp — see pg_util.h.
#include "state/postgres/pg_util.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <charconv>
#include <regex>

#include <libpq-fe.h>

namespace keel::state::pg {

namespace {

// SQLSTATEs after which the caller may retry (the statement did not take
// effect, or the server is going away).
bool retryable(std::string_view sqlstate) {
  return sqlstate.rfind("08", 0) == 0       // connection exceptions
         || sqlstate == "57P01"             // admin_shutdown
         || sqlstate == "57P02"             // crash_shutdown
         || sqlstate == "57P03"             // cannot_connect_now
         || sqlstate == "57014"             // query_canceled (statement_timeout)
         || sqlstate == "55P03"             // lock_not_available (lock_timeout)
         || sqlstate == "40001"             // serialization_failure
         || sqlstate == "40P01"             // deadlock_detected
         || sqlstate == "53300";            // too_many_connections
}

// libpq messages end in a newline and may span lines; keep the first line.
std::string first_line(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s.empty() ? std::string("unknown error") : s;
}

std::string describe_target(PGconn* c) {
  if (c == nullptr) return "PostgreSQL";
  const char* host = PQhost(c);
  const char* port = PQport(c);
  const char* db = PQdb(c);
  std::string out = "PostgreSQL";
  if (db != nullptr && *db != '\0') out += " database \"" + std::string(db) + "\"";
  if (host != nullptr && *host != '\0') {
    out += std::string(" at ") + host;
    if (port != nullptr && *port != '\0') out += std::string(":") + port;
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ Result

Result::Result(pg_result* r) : r_(r) {}

Result::~Result() {
  if (r_ != nullptr) PQclear(r_);
}

Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int Result::rows() const { return r_ != nullptr ? PQntuples(r_) : 0; }
int Result::columns() const { return r_ != nullptr ? PQnfields(r_) : 0; }

std::int64_t Result::affected() const {
  if (r_ == nullptr) return 0;
  const char* n = PQcmdTuples(r_);
  if (n == nullptr || *n == '\0') return 0;
  return std::strtoll(n, nullptr, 10);
}

bool Result::is_null(int row, int col) const {
  return r_ == nullptr || PQgetisnull(r_, row, col) != 0;
}

std::string Result::text(int row, int col) const {
  if (is_null(row, col)) return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t Result::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  const char* v = PQgetvalue(r_, row, col);
  const char* end = v + PQgetlength(r_, row, col);
  std::int64_t out = 0;
  const auto [p, ec] = std::from_chars(v, end, out);
  if (ec != std::errc() || p != end) {
    throw StoreError(ErrorCode::kInternal,
                     "PostgreSQL returned a non-integer where one was expected: " +
                         std::string(v, end));
  }
  return out;
}

double Result::real(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtod(PQgetvalue(r_, row, col), nullptr);
}

bool Result::boolean(int row, int col) const {
  return !is_null(row, col) && PQgetvalue(r_, row, col)[0] == 't';
}

std::optional<std::string> Result::opt_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

std::optional<std::int64_t> Result::opt_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

// -------------------------------------------------------------- Connection

Connection Connection::open(const std::string& url, const ConnectOptions& options) {
  // Settings go in as separate keywords after the URL's own (expand_dbname),
  // so a URL's explicit values for them are overridden by ours.
  const std::string connect_timeout =
      std::to_string(std::max(1, (options.connect_timeout_ms + 999) / 1000));
  const std::string user_timeout = std::to_string(std::max(0, options.io_timeout_ms));
  const char* keys[] = {"dbname",          "connect_timeout", "application_name",
                        "keepalives",      "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                        nullptr};
  const char* values[] = {url.c_str(),
                          connect_timeout.c_str(),
                          options.application_name.c_str(),
                          "1",
                          "5",
                          "2",
                          "3",
                          user_timeout.c_str(),
                          nullptr};
  // Non-blocking connect under our own deadline: libpq's connect_timeout is
  // whole seconds and at least 2, and a paused server accepts the TCP
  // connection (the kernel does) but never answers the startup.
  PGconn* c = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) {
    throw PgError(ErrorCode::kInternal, "cannot allocate a PostgreSQL connection", "");
  }
  const auto deadline = std::min(
      options.call_deadline,
      std::chrono::steady_clock::now() +
          std::chrono::milliseconds(std::max(100, options.connect_timeout_ms)));
  bool timed_out = false;
  if (PQstatus(c) != CONNECTION_BAD) {
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd p{PQsocket(c), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT),
               0};
      const int rc = ::poll(&p, 1, static_cast<int>(left));
      if (rc < 0 && errno != EINTR) break;
      if (rc > 0) st = PQconnectPoll(c);
    }
  }
  if (timed_out) {
    const std::string target = describe_target(c);
    PQfinish(c);
    throw PgError(ErrorCode::kBusy,
                  "cannot connect to " + target + ": no answer within " +
                      (deadline == options.call_deadline
                           ? std::string("the call's time limit")
                           : std::to_string(options.connect_timeout_ms) + " ms"),
                  "");
  }
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string why = first_line(PQerrorMessage(c));
    const std::string target = describe_target(c);
    PQfinish(c);
    // Refused / timed out / the server starting up: worth a retry. Bad
    // credentials, unknown database, malformed URL: not.
    const bool transient = why.find("Connection refused") != std::string::npos ||
                           why.find("timeout") != std::string::npos ||
                           why.find("timed out") != std::string::npos ||
                           why.find("starting up") != std::string::npos ||
                           why.find("shutting down") != std::string::npos ||
                           why.find("No such file or directory") != std::string::npos ||
                           why.find("too many") != std::string::npos;
    throw PgError(transient ? ErrorCode::kBusy : ErrorCode::kInternal,
                  "cannot connect to " + target + ": " + why, "");
  }
  // Notices (e.g. "relation already exists, skipping") are not errors and
  // must not reach stdout/stderr unformatted.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  Connection conn(c);
  conn.deadline_ms_ = options.io_timeout_ms > 0 ? options.io_timeout_ms : 3600 * 1000;
  conn.call_deadline_ = options.call_deadline;
  if (options.statement_timeout_ms > 0) {
    // Set per session rather than through the "options" keyword, which would
    // replace the URL's own options (e.g. its search_path). A session left
    // idle inside a transaction (a node that froze mid-write) must not keep
    // its locks for long either.
    const int t = options.statement_timeout_ms;
    conn.exec("SET statement_timeout = " + std::to_string(t) +
              "; SET idle_in_transaction_session_timeout = " +
              std::to_string(std::max(3 * t, 30000)) + "; SET lock_timeout = " + std::to_string(t));
  }
  return conn;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Connection::Connection(Connection&& o) noexcept
    : conn_(o.conn_), broken_(o.broken_), deadline_ms_(o.deadline_ms_),
      call_deadline_(o.call_deadline_), prepared_(std::move(o.prepared_)),
      deferred_(std::move(o.deferred_)) {
  o.conn_ = nullptr;
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = o.conn_;
    broken_ = o.broken_;
    deadline_ms_ = o.deadline_ms_;
    call_deadline_ = o.call_deadline_;
    prepared_ = std::move(o.prepared_);
    deferred_ = std::move(o.deferred_);
    o.conn_ = nullptr;
  }
  return *this;
}

bool Connection::broken() const {
  return broken_ || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK;
}

void Connection::cut() {
  if (conn_ != nullptr && PQsocket(conn_) >= 0) ::shutdown(PQsocket(conn_), SHUT_RDWR);
  broken_ = true;
}

void Connection::fail(pg_result* r, std::string_view what) {
  std::string sqlstate;
  std::string message;
  if (r != nullptr) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (s != nullptr) sqlstate = s;
    message = first_line(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (message.empty() || message == "unknown error") {
    message = first_line(conn_ != nullptr ? PQerrorMessage(conn_) : nullptr);
  }
  const bool lost = conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK;
  // A timeout or a lost connection leaves the session's state unknown (it
  // may still be inside a transaction): the pool must not reuse it.
  if (lost || sqlstate == "57014" || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0) {
    broken_ = true;
  }
  const bool retry = lost || retryable(sqlstate);
  // Text PostgreSQL cannot hold (invalid UTF-8: 22021) is the caller's input.
  if (sqlstate == "22021" || sqlstate == "22P05") {
    throw PgError(ErrorCode::kInvalidArgument, std::string(what) + ": " + message, sqlstate);
  }
  std::string text = std::string(what) + ": " + message;
  if (lost) text = std::string(what) + ": the connection to PostgreSQL was lost (" + message + ")";
  if (sqlstate == "57014") text = std::string(what) + ": PostgreSQL did not answer in time";
  throw PgError(retry ? ErrorCode::kBusy : ErrorCode::kInternal, text, sqlstate);
}

Result Connection::check(pg_result* r, std::string_view what) {
  const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    return Result(r);
  }
  fail(r, what);
}

Result Connection::exec(std::string_view sql) {
  if (!deferred_.empty()) flush();
  const std::string s(sql);
  if (conn_ == nullptr || PQsendQuery(conn_, s.c_str()) == 0) fail(nullptr, "PostgreSQL statement failed");
  return await_result("PostgreSQL statement failed");
}

namespace {

struct ParamArrays {
  std::vector<const char*> values;
  explicit ParamArrays(const std::vector<Param>& params) {
    values.reserve(params.size());
    for (const Param& p : params) {
      // libpq sends C strings: a NUL would silently cut the value short, and
      // PostgreSQL text cannot hold one anyway.
      if (p.value() && p.value()->find('\0') != std::string::npos) {
        throw PgError(ErrorCode::kInvalidArgument,
                      "text with a NUL byte cannot be stored in PostgreSQL", "22021");
      }
      values.push_back(p.value() ? p.value()->c_str() : nullptr);
    }
  }
};

}  // namespace

Result Connection::exec(std::string_view sql, const std::vector<Param>& params) {
  if (!deferred_.empty()) flush();
  const std::string s(sql);
  const ParamArrays a(params);
  if (conn_ == nullptr || PQsendQueryParams(conn_, s.c_str(), static_cast<int>(params.size()),
                                            nullptr, a.values.data(), nullptr, nullptr, 0) == 0) {
    fail(nullptr, "PostgreSQL statement failed");
  }
  return await_result("PostgreSQL statement failed");
}

Result Connection::exec_prepared(const char* name, std::string_view sql,
                                 const std::vector<Param>& params) {
  if (!deferred_.empty()) {
    return std::move(exec_pipeline({Statement{name, sql, params}}).back());
  }
  if (std::find(prepared_.begin(), prepared_.end(), name) == prepared_.end()) {
    const std::string s(sql);
    if (conn_ == nullptr ||
        PQsendPrepare(conn_, name, s.c_str(), static_cast<int>(params.size()), nullptr) == 0) {
      fail(nullptr, "PostgreSQL could not prepare a statement");
    }
    await_result("PostgreSQL could not prepare a statement");
    prepared_.emplace_back(name);
  }
  const ParamArrays a(params);
  if (PQsendQueryPrepared(conn_, name, static_cast<int>(params.size()), a.values.data(), nullptr,
                          nullptr, 0) == 0) {
    fail(nullptr, "PostgreSQL statement failed");
  }
  return await_result("PostgreSQL statement failed");
}

Result Connection::await_result(std::string_view what) {
  // Client-side deadline: a paused server (SIGSTOP, a black-holed port)
  // never answers and never fires its own statement_timeout, and the kernel
  // keeps ACKing, so neither keepalives nor tcp_user_timeout end the wait.
  const auto own = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms_);
  const bool call_bound = call_deadline_ < own;
  const auto deadline = call_bound ? call_deadline_ : own;
  pg_result* last = nullptr;
  for (;;) {
    while (PQisBusy(conn_) == 0) {
      pg_result* r = PQgetResult(conn_);
      if (r == nullptr) {
        if (last == nullptr) fail(nullptr, what);
        return check(last, what);
      }
      // Keep the first error, else the last result (a multi-statement string).
      if (last != nullptr) {
        const ExecStatusType st = PQresultStatus(last);
        if (st == PGRES_FATAL_ERROR) {
          PQclear(r);
          continue;
        }
        PQclear(last);
      }
      last = r;
    }
    try {
      read_more(deadline, call_bound, what);
    } catch (...) {
      if (last != nullptr) PQclear(last);
      throw;
    }
  }
}

void Connection::read_more(std::chrono::steady_clock::time_point deadline, bool call_bound,
                           std::string_view what) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
  if (left <= 0) {
    broken_ = true;
    throw PgError(ErrorCode::kBusy,
                  std::string(what) + ": PostgreSQL did not answer within " +
                      (call_bound ? std::string("the call's time limit")
                                  : std::to_string(deadline_ms_) + " ms"),
                  "");
  }
  pollfd p{PQsocket(conn_), POLLIN, 0};
  const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
  if (rc < 0 && errno != EINTR) {
    broken_ = true;
    throw PgError(ErrorCode::kBusy, std::string(what) + ": poll failed", "");
  }
  if (rc > 0 && PQconsumeInput(conn_) == 0) fail(nullptr, what);
}

void Connection::defer(const char* name, std::string_view sql, std::vector<Param> params) {
  (void)ParamArrays(params);  // a NUL byte is refused now, by the caller that sent it
  deferred_.push_back(Queued{name, std::string(sql), std::move(params)});
}

void Connection::flush() {
  if (deferred_.empty()) return;
  const std::vector<Queued> qs = std::move(deferred_);
  deferred_.clear();
  (void)run_pipeline(qs, "PostgreSQL statement failed");
}

std::vector<Result> Connection::exec_pipeline(const std::vector<Statement>& statements) {
  std::vector<Queued> qs = std::move(deferred_);
  deferred_.clear();
  const std::size_t first = qs.size();
  for (const Statement& st : statements) {
    (void)ParamArrays(st.params);
    qs.push_back(Queued{st.name, std::string(st.sql), st.params});
  }
  std::vector<Result> all = run_pipeline(qs, "PostgreSQL statement failed");
  return std::vector<Result>(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(first)),
                             std::make_move_iterator(all.end()));
}

std::vector<Result> Connection::run_pipeline(const std::vector<Queued>& qs,
                                             std::string_view what) {
  // Every statement (and the Parse of each not prepared yet) is sent, then
  // one Sync; the server runs them in order and, after an error, skips the
  // rest up to the Sync (PGRES_PIPELINE_ABORTED). The answers are read
  // under the same deadlines as await_result's.
  if (conn_ == nullptr || PQenterPipelineMode(conn_) == 0) fail(nullptr, what);
  struct Sent {
    std::size_t index;
    bool prepare;
  };
  std::vector<Sent> sent;
  std::vector<std::string> preparing;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    const Queued& q = qs[i];
    const bool known =
        std::find(prepared_.begin(), prepared_.end(), q.name) != prepared_.end() ||
        std::find(preparing.begin(), preparing.end(), q.name) != preparing.end();
    if (!known) {
      if (PQsendPrepare(conn_, q.name.c_str(), q.sql.c_str(), static_cast<int>(q.params.size()),
                        nullptr) == 0) {
        broken_ = true;
        fail(nullptr, what);
      }
      preparing.push_back(q.name);
      sent.push_back(Sent{i, true});
    }
    const ParamArrays a(q.params);
    if (PQsendQueryPrepared(conn_, q.name.c_str(), static_cast<int>(q.params.size()),
                            a.values.data(), nullptr, nullptr, 0) == 0) {
      broken_ = true;
      fail(nullptr, what);
    }
    sent.push_back(Sent{i, false});
  }
  if (PQpipelineSync(conn_) == 0) {
    broken_ = true;
    fail(nullptr, what);
  }

  const auto own = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms_);
  const bool call_bound = call_deadline_ < own;
  const auto deadline = call_bound ? call_deadline_ : own;
  std::vector<pg_result*> got;  // one per entry of `sent`, then the Sync's
  auto free_all = [&] {
    for (pg_result* r : got) PQclear(r);
    got.clear();
  };
  bool synced = false;
  for (;;) {
    while (!synced && PQisBusy(conn_) == 0) {
      pg_result* r = PQgetResult(conn_);
      if (r == nullptr) continue;  // the end of one statement's results
      if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        synced = true;
      } else {
        got.push_back(r);
      }
    }
    if (synced) break;
    try {
      read_more(deadline, call_bound, what);
    } catch (...) {
      free_all();
      throw;
    }
  }
  if (PQexitPipelineMode(conn_) == 0 || got.size() != sent.size()) {
    free_all();
    broken_ = true;
    throw PgError(ErrorCode::kInternal,
                  std::string(what) + ": PostgreSQL answered a pipeline out of step", "");
  }
  // The first failure is the one to report (those after it were skipped).
  for (std::size_t k = 0; k < got.size(); ++k) {
    const ExecStatusType st = PQresultStatus(got[k]);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
      if (sent[k].prepare) prepared_.push_back(qs[sent[k].index].name);
      continue;
    }
    pg_result* bad = got[k];
    got.erase(got.begin() + static_cast<std::ptrdiff_t>(k));
    free_all();
    fail(bad, what);
  }
  std::vector<Result> out;
  out.reserve(qs.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    if (sent[k].prepare) {
      PQclear(got[k]);
    } else {
      out.emplace_back(got[k]);
    }
  }
  return out;
}

std::vector<Notification> Connection::take_notifications() {
  std::vector<Notification> out;
  if (conn_ == nullptr) return out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.push_back(Notification{n->relname != nullptr ? n->relname : "",
                               n->extra != nullptr ? n->extra : ""});
    PQfreemem(n);
  }
  return out;
}

bool Connection::wait_for_notification(int timeout_ms, int interrupt_fd) {
  const int fd = conn_ != nullptr ? PQsocket(conn_) : -1;
  if (fd < 0) {
    broken_ = true;
    throw PgError(ErrorCode::kBusy, "the PostgreSQL listener connection is gone", "");
  }
  pollfd p[2] = {{fd, POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
  const int rc = ::poll(p, interrupt_fd >= 0 ? 2 : 1, timeout_ms);
  if (rc <= 0 || (p[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0) return false;
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
    broken_ = true;
    throw PgError(ErrorCode::kBusy,
                  "the PostgreSQL listener connection was lost: " +
                      first_line(PQerrorMessage(conn_)),
                  "");
  }
  return true;
}

std::string Connection::quote_identifier(std::string_view name) const {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  if (q == nullptr) {
    throw StoreError(ErrorCode::kInvalidArgument, "bad SQL identifier: " + std::string(name));
  }
  std::string out(q);
  PQfreemem(q);
  return out;
}

// ------------------------------------------------------------- Transaction

Transaction::Transaction(Connection& c, std::string_view isolation) : c_(c) {
  if (isolation.empty()) {
    c_.exec("BEGIN");
  } else {
    c_.exec("BEGIN ISOLATION LEVEL " + std::string(isolation));
  }
}

Transaction::Transaction(Connection& c, DeferBegin) : c_(c) {
  c_.defer("keel_begin", "BEGIN", {});
}

Transaction::~Transaction() {
  // What was queued for this transaction is not wanted any more (nor sent
  // ahead of the ROLLBACK, where an error of its own would stop it).
  c_.discard_deferred();
  if (done_ || !c_ || c_.broken()) return;
  try {
    c_.exec("ROLLBACK");
  } catch (...) {
    // The connection is marked broken by exec; the pool drops it.
  }
}

void Transaction::commit() {
  // Prepared, so that what the transaction deferred goes out with it. Should
  // one of those fail, COMMIT did not run and the destructor rolls back.
  c_.exec_prepared("keel_commit", "COMMIT", {});
  done_ = true;
}

// ------------------------------------------------------------------- URLs

std::string redact_url(std::string_view url) {
  std::string s(url);
  // scheme://user:password@host  →  scheme://user:***@host
  static const std::regex kUserinfo(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@]*):[^@/]*@)");
  s = std::regex_replace(s, kUserinfo, "$1:***@");
  // password=... in a query string or a key=value string.
  static const std::regex kPassword(R"((password\s*=\s*)('[^']*'|[^&\s]*))");
  s = std::regex_replace(s, kPassword, "$1***");
  return s;
}

bool is_postgres_url(std::string_view url) {
  return url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0 ||
         url.rfind("host=", 0) == 0 || url.rfind("dbname=", 0) == 0;
}

}  // namespace keel::state::pg
