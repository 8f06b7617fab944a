// tests/fuzz/http_request_fuzz.cpp — libFuzzer target: the HTTP request path
// of `keel serve --http` without sockets.
//
// The input is parsed as raw HTTP/1.1 bytes by Beast's request parser (as
// http_server.cpp does, with its body limit); a request that parses goes to
// the HttpHandler (mcp/http_internal.h) with an in-memory Responder, and the
// target waits until every call it dispatched has finished. Every response
// must carry a status in 100..599. The handler is rebuilt every 4096 inputs so
// that legacy sessions opened by the fuzzer do not accumulate without bound.
// The web console's routes are served too (console/console_routes.h: cookies,
// login and action bodies, paths with ids, journal queries), with one token
// principal so that the login path parses its body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "console/console_routes.h"
#include "mcp/http_internal.h"
#include "tests/fuzz/fuzz_server.h"

namespace {

namespace hd = keel::mcp::http_detail;
namespace bhttp = boost::beast::http;

class MemoryResponder final : public hd::Responder {
 public:
  void respond(hd::HttpResponse res) override {
    const unsigned code = res.result_int();
    if (code < 100 || code > 599) std::abort();
    std::lock_guard lock(mu_);
    done_ = true;
  }
  void start_sse(hd::Headers) override {}
  void sse_send(std::string event) override {
    if (event.empty()) std::abort();  // an SSE event is never empty
  }
  void sse_finish() override {}
  void on_peer_closed(std::function<void()>) override {}

 private:
  std::mutex mu_;
  bool done_ = false;
};

struct HttpTarget {
  keel::mcp::HttpOptions options;
  std::unique_ptr<hd::HttpHandler> handler;
  std::size_t uses = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& fs = keel::fuzz::fuzz_server();
  static HttpTarget* t = [] {
    auto* x = new HttpTarget;
    x->options.workers = 2;
    x->options.max_body_bytes = 64 << 10;
    keel::console::ConsoleConfig console;
    console.store = keel::fuzz::fuzz_server().store.get();
    console.project = "/fuzz/project";
    console.tokens = {{"fuzz-person", "fuzz-token-0123456789"}};
    console.principal_for = [](const std::string& name) -> std::optional<keel::state::Principal> {
      if (name != "fuzz-person") return std::nullopt;
      keel::state::Principal p{"fuzz-person", "/fuzz/project", "", {}};
      for (const auto& c : keel::state::all_capabilities()) p.capabilities.insert(c);
      return p;
    };
    console.max_sessions = 64;
    keel::console::add_console_routes(x->options, std::move(console));
    return x;
  }();
  if (!t->handler || ++t->uses % 4096 == 0) {
    t->handler.reset();  // joins its workers after ending its sessions
    t->handler = std::make_unique<hd::HttpHandler>(*fs.server, t->options, true);
  }

  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(t->options.max_body_bytes);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  (void)parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // Beast refused it: never reaches keel

  auto responder = std::make_shared<MemoryResponder>();
  t->handler->handle(parser.release(), responder);
  t->handler->wait_idle();
  return 0;
}
