// Streamable HTTP, the 2025-11-25 era: a session opened by initialize, JSON
// and SSE answers, stream resumption with Last-Event-ID, DELETE, concurrent
// POSTs on one session, and an idle session's expiry. (Fixtures:
// mcp_test_util.h.)
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

TEST_CASE("http: legacy session lifecycle, JSON and SSE answers, DELETE") {
  HttpFixture f;
  std::string sid = f.session();
  for (char c : sid) CHECK((c >= 0x21 && c <= 0x7e));
  CHECK(sid.size() >= 32);

  Req list;
  list.headers["Mcp-Session-Id"] = sid;
  list.headers["MCP-Protocol-Version"] = "2025-03-26";  // any legacy version inside a session
  list.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  Reply r = f.send(list);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"echo\"") != std::string::npos);

  // A call with a progressToken is answered as SSE: priming event, progress, response.
  Req call;
  call.headers["Mcp-Session-Id"] = sid;
  call.headers["MCP-Protocol-Version"] = "2025-11-25";
  call.body = R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress",)"
              R"("arguments":{},"_meta":{"progressToken":"p1"}}})";
  r = f.send(call);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/event-stream");
  CHECK(r.body.find("retry: 1000") != std::string::npos);
  CHECK(r.body.find("notifications/progress") != std::string::npos);
  CHECK(r.body.find("\"id\":3") != std::string::npos);
  CHECK(r.body.find("id: s1:0") != std::string::npos);

  // Resume that stream after its first event: the rest is replayed.
  Req resume;
  resume.method = "GET";
  resume.headers["Mcp-Session-Id"] = sid;
  resume.headers["Accept"] = "text/event-stream";
  resume.headers["Last-Event-ID"] = "s1:1";
  r = f.send(resume);
  CHECK(r.status == 200);
  CHECK(r.body.find("id: s1:2") != std::string::npos);
  CHECK(r.body.find("id: s1:1\n") == std::string::npos);

  // A notification answers 202.
  Req note = list;
  note.body = R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})";
  CHECK(f.send(note).status == 202);

  // DELETE ends the session; afterwards its id is unknown (404).
  Req del;
  del.method = "DELETE";
  del.headers["Mcp-Session-Id"] = sid;
  CHECK(f.send(del).status == 200);
  CHECK(f.send(list).status == 404);
  CHECK(f.send(del).status == 404);
}

TEST_CASE("http: legacy logging/setLevel and concurrent POSTs on one session") {
  HttpFixture f;
  std::string sid = f.session();
  Req q;
  q.headers["Mcp-Session-Id"] = sid;
  q.body = R"({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}})";
  Reply r = f.send(q);
  CHECK(r.status == 200);
  CHECK(r.body.find("\"result\":{}") != std::string::npos);

  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Req l;
      l.headers["Mcp-Session-Id"] = sid;
      l.body = R"({"jsonrpc":"2.0","id":)" + std::to_string(10 + i) + R"(,"method":"tools/list"})";
      if (f.send(l).status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 3);
}

TEST_CASE("http: an idle legacy session expires (404)") {
  HttpOptions options;
  options.session_timeout = std::chrono::milliseconds(200);
  HttpFixture f(options);
  std::string sid = f.session();
  Req q;
  q.headers["Mcp-Session-Id"] = sid;
  q.body = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  CHECK(f.send(q).status == 200);
  std::this_thread::sleep_for(400ms);
  CHECK(f.send(q).status == 404);
  f.still_serving();
}
