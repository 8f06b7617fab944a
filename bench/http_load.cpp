// bench/http_load.cpp — closed-loop HTTP/1.1 load generator for MCP servers.
//
// N keep-alive connections on ONE thread (Boost.Asio C++20 coroutines), each
// sending the same POST body back to back and waiting for its response, for a
// fixed time or a fixed request count, whichever comes first. Every request
// after the warm-up is timed; the result is one JSON line on stdout:
//   {"requests":R,"errors":E,"seconds":S,"rps":R/S,"p50_ms":..,"p99_ms":..,"max_ms":..,
//    "connections":N,"session":"none|legacy"}
// An error is a transport failure, a status other than 200, or a body that
// lacks the --expect substring; a connection that fails stops (it is not
// reopened), so errors stay bounded.
//
// With --legacy-init PROTOCOL_VERSION each connection first opens its own
// 2025-11-25-style session (POST initialize, then notifications/initialized)
// and sends Mcp-Session-Id and MCP-Protocol-Version on every request.
//
// The generator is single-threaded so that it uses at most one core; bench/run
// pins it and the server to separate cores with taskset.
//
// Usage: http_load --url http://127.0.0.1:PORT/mcp --body JSON [--connections 50]
//                  [--seconds 5] [--warmup 1] [--max-requests N] [--expect TEXT]
//                  [--header 'Name: value']... [--legacy-init VERSION]
// GCC 12 reports a false -Wmismatched-new-delete for Asio's coroutine frame
// allocator (aligned_alloc paired with its own operator delete) once the
// coroutine is inlined into main; the pairing is Asio's and is correct.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "bench/bench_util.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string target = "/mcp";
  std::string body;
  std::string expect;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string legacy_version;  // empty: no session
  int connections = 50;
  double seconds = 5;
  double warmup = 1;
  std::int64_t max_requests = 10'000'000;
};

struct Shared {
  Clock::time_point measure_from;
  Clock::time_point deadline;
  std::int64_t started = 0;  // requests claimed (single thread: no atomics)
  std::int64_t errors = 0;
  std::vector<double> latency_ms;
  std::string first_error;
};

void note_error(Shared& s, const std::string& what) {
  ++s.errors;
  if (s.first_error.empty()) s.first_error = what;
}

bhttp::request<bhttp::string_body> make_request(const Options& o, const std::string& body,
                                                 const std::string& session) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, o.target, 11};
  req.set(bhttp::field::host, o.host + ":" + o.port);
  req.set(bhttp::field::content_type, "application/json");
  req.set(bhttp::field::accept, "application/json, text/event-stream");
  req.keep_alive(true);
  for (const auto& [k, v] : o.headers) req.set(k, v);
  if (!session.empty()) {
    req.set("Mcp-Session-Id", session);
    req.set("MCP-Protocol-Version", o.legacy_version);
  }
  req.body() = body;
  req.prepare_payload();
  return req;
}

asio::awaitable<void> client(const Options& o, Shared& s, tcp::resolver::results_type endpoints) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  beast::flat_buffer buf;
  try {
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    stream.socket().set_option(tcp::no_delay(true));
    std::string session;
    if (!o.legacy_version.empty()) {
      const std::string init =
          R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":")" +
          o.legacy_version +
          R"(","capabilities":{},"clientInfo":{"name":"keel-http-load","version":"1.0.0"}}})";
      auto req = make_request(o, init, "");
      co_await bhttp::async_write(stream, req, asio::use_awaitable);
      bhttp::response<bhttp::string_body> res;
      co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
      session = std::string(res[("Mcp-Session-Id")]);
      if (res.result() != bhttp::status::ok || session.empty()) {
        note_error(s, "initialize: status " + std::to_string(res.result_int()) + " body " + res.body());
        co_return;
      }
      auto note = make_request(o, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", session);
      co_await bhttp::async_write(stream, note, asio::use_awaitable);
      bhttp::response<bhttp::string_body> ack;
      co_await bhttp::async_read(stream, buf, ack, asio::use_awaitable);
    }
    const auto req = make_request(o, o.body, session);
    while (s.started < o.max_requests) {
      const auto t0 = Clock::now();
      if (t0 >= s.deadline) break;
      ++s.started;
      co_await bhttp::async_write(stream, req, asio::use_awaitable);
      bhttp::response<bhttp::string_body> res;
      co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
      const auto t1 = Clock::now();
      if (res.result() != bhttp::status::ok) {
        note_error(s, "status " + std::to_string(res.result_int()) + " body " + res.body());
        co_return;
      }
      if (!o.expect.empty() && res.body().find(o.expect) == std::string::npos) {
        note_error(s, "unexpected body " + res.body());
        co_return;
      }
      if (t0 >= s.measure_from) {
        s.latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      if (!res.keep_alive()) {
        note_error(s, "server closed the keep-alive connection");
        co_return;
      }
    }
  } catch (const std::exception& e) {
    note_error(s, std::string("transport: ") + e.what());
  }
}

[[noreturn]] void usage(const std::string& why) {
  keel::bench::usage_exit(
      "http_load", why,
      "usage: http_load --url http://HOST:PORT/PATH --body JSON [--connections N]\n"
      "                 [--seconds S] [--warmup S] [--max-requests N] [--expect TEXT]\n"
      "                 [--header 'Name: value']... [--legacy-init VERSION]\n");
}

bool parse_url(const std::string& url, Options& o) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  o.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) return false;
  o.host = authority.substr(0, colon);
  o.port = authority.substr(colon + 1);
  return !o.host.empty() && !o.port.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool have_url = false;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, const auto& next) {
    if (a == "--url") {
      if (!parse_url(next(), o)) usage("--url must be http://HOST:PORT/PATH");
      have_url = true;
    } else if (a == "--body") o.body = next();
    else if (a == "--expect") o.expect = next();
    else if (a == "--connections") o.connections = std::stoi(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--warmup") o.warmup = std::stod(next());
    else if (a == "--max-requests") o.max_requests = std::stoll(next());
    else if (a == "--legacy-init") o.legacy_version = next();
    else if (a == "--header") {
      const std::string h = next();
      const auto colon = h.find(':');
      if (colon == std::string::npos) usage("--header must be 'Name: value'");
      std::string v = h.substr(colon + 1);
      v.erase(0, v.find_first_not_of(' '));
      o.headers.emplace_back(h.substr(0, colon), v);
    } else if (a == "-h" || a == "--help") usage("");
    else usage("unknown argument " + a);
  });
  if (!have_url || o.body.empty()) usage("--url and --body are required");
  if (o.connections < 1 || o.connections > 10'000 || o.seconds <= 0 || o.seconds > 3600 ||
      o.warmup < 0 || o.max_requests < 1) {
    usage("out-of-range option");
  }

  asio::io_context io(1);
  tcp::resolver resolver(io);
  tcp::resolver::results_type endpoints;
  try {
    endpoints = resolver.resolve(o.host, o.port);
  } catch (const std::exception& e) {
    std::cerr << "http_load: cannot resolve " << o.host << ":" << o.port << ": " << e.what() << "\n";
    return 1;
  }
  Shared s;
  const auto start = Clock::now();
  s.measure_from = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.warmup));
  s.deadline = s.measure_from + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.seconds));
  s.latency_ms.reserve(1 << 20);
  for (int c = 0; c < o.connections; ++c) {
    asio::co_spawn(io, client(o, s, endpoints), asio::detached);
  }
  io.run();
  const auto end = Clock::now();
  // The measured window: from the end of the warm-up to the last response
  // (the generator stops starting requests at the deadline).
  const double secs = std::chrono::duration<double>(end - std::max(s.measure_from, start)).count();
  const auto n = static_cast<std::int64_t>(s.latency_ms.size());
  double mx = s.latency_ms.empty() ? 0 : *std::max_element(s.latency_ms.begin(), s.latency_ms.end());
  const double p99 = keel::bench::percentile(s.latency_ms, 99);
  const double p50 = keel::bench::percentile(s.latency_ms, 50);
  std::printf(
      "{\"requests\":%lld,\"errors\":%lld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"connections\":%d,\"session\":\"%s\"}\n",
      static_cast<long long>(n), static_cast<long long>(s.errors), secs,
      secs > 0 ? static_cast<double>(n) / secs : 0.0, p50, p99, mx, o.connections,
      o.legacy_version.empty() ? "none" : "legacy");
  if (!s.first_error.empty()) {
    std::cerr << "http_load: " << s.errors << " error(s); first: " << s.first_error.substr(0, 500)
              << "\n";
  }
  return n > 0 && s.errors == 0 ? 0 : 1;
}
