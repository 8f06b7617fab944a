// Which store a keel process opens and how it names itself: --store /
// KEEL_STORE_URL / store.url, the node id in every journal record, the project
// id shared by checkouts on several machines, the SQLite migration that adds
// the node to an existing store, and the static keel re-executing as keel-pg
// for a PostgreSQL store.
//
// PostgreSQL cases need KEEL_TEST_STORE_URL (a role that may create schemas);
// without it they WARN and skip. The binary cases need keel-pg beside keel.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cli/args.h"
#include "cli/config.h"
#include "cli/workspace.h"
#include "cli_test_util.h"
#include "state/schema.h"
#include "state/store.h"

namespace fs = std::filesystem;
namespace json = boost::json;

using keel::cli::Args;
using keel::cli::ConfigError;
using keel::cli::Workspace;
using keel::cli::testing::quote;
using keel::cli::testing::Run;
using keel::cli::testing::shell;
using keel::cli::testing::spit;
using keel::cli::testing::TempProject;

namespace {

// Sets or unsets environment variables for one scope, then puts them back.
class ScopedEnv {
 public:
  void set(const std::string& name, std::optional<std::string> value) {
    const char* old = std::getenv(name.c_str());
    saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
    if (value) ::setenv(name.c_str(), value->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Every variable that chooses a store, a node or a project, unset.
struct CleanEnv : ScopedEnv {
  CleanEnv() {
    for (const char* v : {"KEEL_STORE_URL", "KEEL_NODE_ID", "KEEL_PROJECT_ID", "KEEL_CONFIG",
                          "KEEL_STATE_DIR", "KEEL_PG_BINARY"}) {
      set(v, std::nullopt);
    }
  }
};

// The same, for a command run through the shell.
const std::string kCleanEnv =
    "env -u KEEL_STORE_URL -u KEEL_NODE_ID -u KEEL_PROJECT_ID -u KEEL_CONFIG -u KEEL_STATE_DIR "
    "-u KEEL_PG_BINARY ";

Workspace resolve(const std::vector<std::string>& words) {
  return Workspace::resolve(Args::parse(words, keel::cli::common_options()));
}

std::string host() {
  char buf[HOST_NAME_MAX + 1] = {};
  REQUIRE(::gethostname(buf, sizeof buf - 1) == 0);
  return buf;
}

std::vector<json::object> json_lines(const std::string& text) {
  std::vector<json::object> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (!line.empty()) out.push_back(json::parse(line).as_object());
    start = end + 1;
  }
  return out;
}

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n + (!text.empty() && text.back() != '\n');
}

#ifdef KEEL_BINARY
const std::string kKeel = KEEL_BINARY;

// keel-pg must sit beside the keel under test for the re-exec cases.
void require_keel_pg() {
  const fs::path pg = fs::path(kKeel).parent_path() / "keel-pg";
  if (!fs::exists(pg)) FAIL("build keel-pg beside " + kKeel + " (ninja keel-pg)");
}
#endif

// A PostgreSQL URL on a schema of its own (dropped at exit), or nullopt with
// a warning when KEEL_TEST_STORE_URL is unset.
std::optional<std::string> pg_url_or_warn() {
  const std::optional<std::string> base = keel::state::testing::test_store_url();
  if (!base) {
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL case skipped");
    return std::nullopt;
  }
  std::random_device rd;
  const std::string schema = "h4cli_" + std::to_string(rd()) + std::to_string(rd());
  keel::state::testing::TestSchemas::instance().add(schema);
  return keel::state::testing::url_with_search_path(*base, schema);
}

// `url` with its user, password or database replaced (postgres:// URLs only).
struct UrlParts {
  std::string scheme, user, host_port, db, query;
};
UrlParts split_url(const std::string& url) {
  UrlParts p;
  const std::size_t s = url.find("://");
  REQUIRE(s != std::string::npos);
  p.scheme = url.substr(0, s + 3);
  std::string rest = url.substr(s + 3);
  if (const std::size_t q = rest.find('?'); q != std::string::npos) {
    p.query = rest.substr(q);
    rest = rest.substr(0, q);
  }
  if (const std::size_t slash = rest.find('/'); slash != std::string::npos) {
    p.db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const std::size_t at = rest.rfind('@'); at != std::string::npos) {
    p.user = rest.substr(0, at);
    if (const std::size_t colon = p.user.find(':'); colon != std::string::npos) {
      p.user = p.user.substr(0, colon);
    }
    rest = rest.substr(at + 1);
  }
  p.host_port = rest;
  return p;
}

}  // namespace

// ------------------------------------------------------------- selection

TEST_CASE("the store URL: --store over KEEL_STORE_URL over store.url; none: SQLite", "[cli-store]") {
  CleanEnv clean;
  TempProject p;
  const std::string proj = "--project=" + p.project.string();
  spit(p.project / ".keel" / "keel.jsonc",
       R"({"store": {"url": "postgresql://cfg@db.example/keel", "pg_call_timeout_ms": 1500,
                     "pg_pool_size": 3}})");
  {
    const Workspace ws = resolve({proj});
    CHECK(ws.store_url() == "postgresql://cfg@db.example/keel");
    const keel::state::StoreOptions o = ws.store_options();
    CHECK(o.url == "postgresql://cfg@db.example/keel");
    CHECK(o.pg_call_timeout_ms == 1500);
    CHECK(o.pg_pool_size == 3);
    CHECK(o.dir == p.project / ".keel");
  }
  {
    ScopedEnv env;
    env.set("KEEL_STORE_URL", "postgresql://env@db.example/keel");
    CHECK(resolve({proj}).store_url() == "postgresql://env@db.example/keel");
    CHECK(resolve({proj, "--store", "postgresql://opt@db.example/keel"}).store_url() ==
          "postgresql://opt@db.example/keel");
    // An explicit empty --store chooses SQLite over the environment and config.
    CHECK(resolve({proj, "--store="}).store_url().empty());
  }
  // No URL anywhere: the SQLite store in the state directory.
  spit(p.project / ".keel" / "keel.jsonc", "{}");
  Workspace ws = resolve({proj});
  CHECK(ws.store_url().empty());
  ws.store().journal_append(ws.human(), "NOTE", "x", json::object{});
  CHECK(fs::exists(p.project / ".keel" / "keel.db"));
}

TEST_CASE("store config keys are range-checked and name themselves", "[cli-store]") {
  auto message = [](std::string_view text) {
    try {
      keel::cli::parse_config(text, "cfg");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message(R"({"store": {"pg_pool_size": 0}})"), Catch::Contains("store.pg_pool_size"));
  CHECK_THAT(message(R"({"store": {"pg_call_timeout_ms": 5}})"),
             Catch::Contains("store.pg_call_timeout_ms"));
  CHECK_THAT(message(R"({"store": {"url": 5}})"), Catch::Contains("store.url"));
  CHECK_THAT(message(R"({"node": {"id": ""}})"), Catch::Contains("node.id"));
  CHECK_THAT(message(R"({"project": {"id": ""}})"), Catch::Contains("project.id"));
  CHECK_THAT(message(R"({"node": {"name": "x"}})"), Catch::Contains("node.name"));
}

TEST_CASE("the node id: KEEL_NODE_ID over node.id over the host name", "[cli-store]") {
  CleanEnv clean;
  TempProject p;
  const std::string proj = "--project=" + p.project.string();
  CHECK(resolve({proj}).node_id() == host());
  CHECK(resolve({proj}).store_options().node == host());
  spit(p.project / ".keel" / "keel.jsonc", R"({"node": {"id": "rack-7"}})");
  CHECK(resolve({proj}).store_options().node == "rack-7");
  ScopedEnv env;
  env.set("KEEL_NODE_ID", "ci-runner-3");
  CHECK(resolve({proj}).store_options().node == "ci-runner-3");
}

TEST_CASE("the project id: checkouts sharing project.id share leases", "[cli-store]") {
  CleanEnv clean;
  TempProject a;
  TempProject b;  // another checkout of the same repository, elsewhere
  keel::state::testing::TempDir shared;  // stands for the database both reach
  const std::string state = "--state=" + (shared.path() / "state").string();
  CHECK(resolve({"--project=" + a.project.string()}).human().project == a.project.string());

  spit(a.project / ".keel" / "keel.jsonc", R"({"project": {"id": "acme/widgets"}})");
  spit(b.project / ".keel" / "keel.jsonc", R"({"project": {"id": "acme/widgets"}})");
  Workspace wa = resolve({"--project=" + a.project.string(), state});
  CHECK(wa.project_id() == "acme/widgets");
  CHECK(wa.human().project == "acme/widgets");
  CHECK(wa.project() == a.project);  // the directory stays the directory
  keel::state::AcquireRequest req;
  req.name = "build";
  req.ttl_ms = 60'000;
  REQUIRE(wa.store().acquire_lease(wa.human("agent-a"), req).granted);

  {
    Workspace wb = resolve({"--project=" + b.project.string(), state});
    const auto held = wb.store().list_leases(wb.human());
    REQUIRE(held.size() == 1);
    CHECK(held[0].holder == "agent-a");
    CHECK_FALSE(wb.store().acquire_lease(wb.human("agent-b"), req).granted);
  }
  {
    ScopedEnv env;  // the environment names another project: nothing shared
    env.set("KEEL_PROJECT_ID", "acme/other");
    Workspace wb = resolve({"--project=" + b.project.string(), state});
    CHECK(wb.human().project == "acme/other");
    CHECK(wb.store().list_leases(wb.human()).empty());
  }
}

TEST_CASE("store URLs are redacted for messages", "[cli-store]") {
  using keel::cli::redact_store_url;
  CHECK(redact_store_url("postgresql://keel:s3cret@db:5432/keel") ==
        "postgresql://keel:***@db:5432/keel");
  CHECK(redact_store_url("postgres://keel@db/keel") == "postgres://keel@db/keel");
  CHECK(redact_store_url("postgresql://db/keel?user=k&password=s3cret&sslmode=require") ==
        "postgresql://db/keel?user=k&password=***&sslmode=require");
  CHECK(redact_store_url("host=db dbname=keel password = 's3 cret' user=k") ==
        "host=db dbname=keel password = *** user=k");
  CHECK(redact_store_url("postgresql://k:p@ss@db/x").find("p@ss") == std::string::npos);
}

// ------------------------------------------------------- SQLite migration

TEST_CASE("a store written before schema 4 gets journal.node in place", "[cli-store]") {
  keel::state::testing::TempDir dir;
  keel::state::StoreOptions o;
  o.dir = dir.path() / "state";
  const auto human = keel::state::testing::admin();
  keel::state::AcquireRequest req;
  req.name = "db";
  req.ttl_ms = 3'600'000;
  {
    auto s = keel::state::open_sqlite_store(o);
    // Released before the store is made old: its ACQUIRE record (written by
    // this keel) names a group_id an old store's lease row could not hold.
    const auto got = s->acquire_lease(human, req);
    REQUIRE(got.granted);
    s->release_lease(human, req.name, got.lease->lease_id);
    s->journal_append(human, "NOTE", "before", json::object{{"n", 1}});
  }
  // Make it the store an earlier keel left: schema 3, a journal without node.
  const fs::path db_path = o.dir / "keel.db";
  auto exec = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    INFO(msg);
    REQUIRE(rc == SQLITE_OK);
  };
  auto scalar = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    const long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
  };
  // (and without what schema 5 added for issue 18's leases, and schema 6 for
  // issue 20's queue, idempotent calls and fanout)
  exec("DROP INDEX memory_by_age; DROP TABLE tool_requests; DROP TABLE fanout_cache;"
       " DROP TABLE fanout_breakers;"
       " ALTER TABLE journal DROP COLUMN node; DROP INDEX leases_by_group;"
       " ALTER TABLE leases DROP COLUMN units; ALTER TABLE leases DROP COLUMN group_id;"
       " ALTER TABLE lease_requests DROP COLUMN args_hash; DROP TABLE lease_capacities;"
       " DROP TABLE lease_waiters; DROP TABLE lease_asks;"
       " DELETE FROM schema_version WHERE version >= 4;");
  REQUIRE(scalar("SELECT count(*) FROM pragma_table_info('journal') WHERE name='node'") == 0);
  REQUIRE(scalar("SELECT max(version) FROM schema_version") == 3);

  o.node = "node-after";
  {
    auto s = keel::state::open_sqlite_store(o);
    s->journal_append(human, "NOTE", "after", json::object{{"n", 2}});
    keel::state::JournalFilter f;
    f.newest_first = false;
    const auto records = s->journal_query(human, f);
    REQUIRE(records.size() == 4);
    CHECK(records[0].node.empty());
    CHECK(records[1].node.empty());
    CHECK(records[2].node.empty());
    CHECK(records[3].node == "node-after");
    const auto verified = s->journal_verify(human);
    INFO((verified.first_bad ? verified.first_bad->detail : std::string()));
    CHECK(verified.ok);
    CHECK(verified.records == 4);
    CHECK(s->journal_replay(human).equal);
  }
  CHECK(scalar("SELECT max(version) FROM schema_version") == keel::state::latest_schema_version());
  CHECK(scalar("SELECT count(*) FROM pragma_table_info('journal') WHERE name='node'") == 1);
}

#ifdef KEEL_BINARY

// ------------------------------------------------------- records and nodes

TEST_CASE("journal tail --json, export and journal_tail name each record's node", "[cli-store][node]") {
  TempProject p;
  const std::string where = " --project " + quote(p.project.string());
  const std::string keel = "cd " + quote(p.project.string()) + " && " + kCleanEnv;
  REQUIRE(shell(keel + "KEEL_NODE_ID=node-a " + kKeel + " memory put k 1" + where).status == 0);
  REQUIRE(shell(keel + "KEEL_NODE_ID=node-b " + kKeel + " memory put k 2" + where).status == 0);

  const Run tail = shell(keel + kKeel + " journal tail --json" + where);
  REQUIRE(tail.status == 0);
  const auto lines = json_lines(tail.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("node") == "node-a");
  CHECK(lines[1].at("node") == "node-b");

  const Run exported = shell(keel + kKeel + " journal export" + where);
  REQUIRE(exported.status == 0);
  const auto records = json_lines(exported.out);
  REQUIRE(records.size() == 2);
  CHECK(records[0].at("node") == "node-a");
  CHECK(records[1].at("node") == "node-b");

  // journal_tail over MCP, from a server on a third node.
  const std::string rpc =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"journal_tail","arguments":{"limit":10}}})"
      "\n";
  const Run served = keel::cli::testing::shell_stdout(
      "cd " + quote(p.project.string()) + " && printf %s " + quote(rpc) + " | " + kCleanEnv +
      "KEEL_NODE_ID=node-c timeout 20 " + kKeel + " serve --stdio" + where + " 2>/dev/null");
  json::array got;
  for (const auto& msg : json_lines(served.out)) {
    if (msg.contains("id") && msg.at("id") == 2) {
      got = msg.at("result").at("structuredContent").at("records").as_array();
    }
  }
  std::vector<std::string> nodes;
  for (const auto& r : got) nodes.emplace_back(r.at("node").as_string());
  // Newest first: the server's own AGENT_START, then the two puts.
  CHECK(nodes == std::vector<std::string>{"node-c", "node-b", "node-a"});

  const Run verify = shell(keel + kKeel + " journal verify" + where);
  INFO(verify.out);
  CHECK(verify.status == 0);
}

// ------------------------------------------------------ PostgreSQL via keel-pg

TEST_CASE("a store nobody answers for fails at start in one line without the password", "[cli-store][pg]") {
  require_keel_pg();
  TempProject p;
  spit(p.project / ".keel" / "keel.jsonc", R"({"store": {"pg_call_timeout_ms": 1000}})");
  const std::string keel = "cd " + quote(p.project.string()) + " && " + kCleanEnv + kKeel;
  for (const std::string url : {"postgresql://keel:s3cret-pw@127.0.0.1:1/keel",
                                "postgresql://keel:s3cret-pw@10.255.255.1:5432/keel"}) {
    INFO(url);
    const auto t0 = std::chrono::steady_clock::now();
    const Run r = shell(keel + " --store " + quote(url) + " journal tail");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
    INFO(r.out);
    CHECK(r.status == 1);
    CHECK(count_lines(r.out) == 1);
    CHECK_THAT(r.out, Catch::StartsWith("keel: "));
    CHECK(r.out.find("s3cret-pw") == std::string::npos);
    CHECK(ms < 5000);
  }
}

TEST_CASE("wrong credentials or database fail at start in one line without the password", "[cli-store][pg]") {
  const std::optional<std::string> base = keel::state::testing::test_store_url();
  if (!base) {
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL case skipped");
    return;
  }
  if (base->rfind("postgres", 0) != 0) {
    WARN("KEEL_TEST_STORE_URL is not a postgres:// URL: case skipped");
    return;
  }
  require_keel_pg();
  TempProject p;
  const UrlParts u = split_url(*base);
  const std::string keel = "cd " + quote(p.project.string()) + " && " + kCleanEnv + kKeel;
  const std::vector<std::string> wrong{
      u.scheme + "h4_no_such_role:s3cret-pw@" + u.host_port + "/" + u.db + u.query,
      u.scheme + (u.user.empty() ? "" : u.user + ":s3cret-pw@") + u.host_port +
          "/h4_no_such_database" + u.query};
  for (const std::string& url : wrong) {
    const auto t0 = std::chrono::steady_clock::now();
    const Run r = shell(keel + " --store " + quote(url) + " lease ls");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
    INFO(r.out);
    CHECK(r.status == 1);
    CHECK(count_lines(r.out) == 1);
    CHECK(r.out.find("s3cret-pw") == std::string::npos);
    CHECK(ms < 5000);
  }
}

TEST_CASE("the static keel re-executes as keel-pg for a PostgreSQL store", "[cli-store][pg]") {
  const std::optional<std::string> url = pg_url_or_warn();
  if (!url) return;
  require_keel_pg();
  TempProject p;
  const std::string where = " --project " + quote(p.project.string());
  const std::string cd = "cd " + quote(p.project.string()) + " && " + kCleanEnv;
  const std::string store = " --store " + quote(*url);

  REQUIRE(shell(cd + "KEEL_NODE_ID=pg-node-1 " + kKeel + store + " memory put k '\"v\"'" + where)
              .status == 0);
  // The URL from the environment, the option after the command words.
  const Run tail =
      shell(cd + "KEEL_STORE_URL=" + quote(*url) + " " + kKeel + " journal tail --json" + where);
  INFO(tail.out);
  REQUIRE(tail.status == 0);
  const auto lines = json_lines(tail.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("op") == "MEMORY_PUT");
  CHECK(lines[0].at("node") == "pg-node-1");
  CHECK(lines[0].at("project").as_string() == p.project.string());
  // Nothing went to a SQLite store.
  CHECK_FALSE(fs::exists(p.project / ".keel" / "keel.db"));

  // `keel hook` read its event from stdin before it needed the store: keel-pg
  // gets the same event and registers the agent.
  const std::string event = R"({"session_id":"s-h4-hook","hook_event_name":"SessionStart",)"
                            R"("source":"startup","cwd":)" +
                            json::serialize(json::string(p.project.string())) + "}";
  const Run hook = shell("cd " + quote(p.project.string()) + " && printf %s " + quote(event) +
                         " | " + kCleanEnv + "KEEL_AGENT=h4-hook-agent " + kKeel + store +
                         " hook --dialect claude");
  INFO(hook.out);
  CHECK(hook.status == 0);
  const Run agents = shell(cd + kKeel + store + " agents ls" + where);
  INFO(agents.out);
  CHECK(agents.status == 0);
  CHECK_THAT(agents.out, Catch::Contains("h4-hook-agent"));

  // Without keel-pg: one line that says what to do.
  const Run missing = shell(cd + "KEEL_PG_BINARY=/nonexistent/keel-pg " + kKeel + store +
                            " journal tail" + where);
  CHECK(missing.status == 1);
  CHECK(count_lines(missing.out) == 1);
  CHECK_THAT(missing.out, Catch::Contains("keel-pg"));
}

#endif  // KEEL_BINARY
