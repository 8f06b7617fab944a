// keel/mcp/http_server.cpp — the HTTP I/O side (Beast advanced-server style):
// a listener, one HttpSession per TCP connection that reads and parses one
// request at a time (body limit, header/idle timeouts) and writes complete or
// SSE (chunked) responses; what a request means is http_handler.cpp's job.
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "mcp/http_internal.h"
#include "mcp/in_flight.h"

namespace keel::mcp {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http_detail::Headers;
using http_detail::HttpHandler;
using http_detail::HttpRequest;
using http_detail::HttpResponse;
using http_detail::Responder;
namespace bhttp = beast::http;

namespace {

// An SSE stream (route streams, the legacy GET stream, a POST answered as
// SSE) whose client does not take its events is closed rather than left to
// grow: once more than kSseMaxQueuedBytes wait to be written, or a write
// (header or chunk) makes no progress for kSseWriteTimeout. Closing it runs
// the stream's on_peer_closed callback, as if the peer had left; a browser's
// EventSource reconnects and starts afresh, a legacy client resumes with
// Last-Event-ID.
constexpr std::size_t kSseMaxQueuedBytes = 4u << 20;
constexpr std::chrono::seconds kSseWriteTimeout{30};

class HttpSession : public Responder, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, HttpHandler& handler, const HttpOptions& options,
              InFlight& in_flight)
      : stream_(std::move(socket)), handler_(handler), options_(options), in_flight_(in_flight) {}
  ~HttpSession() override { exchange_done(); }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // --- Responder ------------------------------------------------------------

  void respond(HttpResponse res) override {
    asio::post(stream_.get_executor(),
               [self = shared_from_this(), res = std::move(res)]() mutable {
                 self->write_response(std::move(res));
               });
  }

  void start_sse(Headers headers) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), headers = std::move(headers)] {
      self->write_sse_header(headers);
    });
  }

  void sse_send(std::string event) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), ev = std::move(event)]() mutable {
      if (self->closed_) return;
      self->queued_bytes_ += ev.size();
      self->outq_.push_back(std::move(ev));
      if (self->queued_bytes_ > kSseMaxQueuedBytes) {
        spdlog::warn("mcp http: an event stream's client is not reading ({} bytes queued); closing it",
                     self->queued_bytes_);
        self->peer_closed();
        return;
      }
      self->flush();
    });
  }

  void sse_finish() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      self->on_close_ = nullptr;  // a normal end is not a disconnect
      self->flush();
    });
  }

  void on_peer_closed(std::function<void()> f) override {
    asio::post(stream_.get_executor(), [self = shared_from_this(), f = std::move(f)]() mutable {
      if (self->closed_) {
        if (!self->finishing_) f();
        return;
      }
      self->on_close_ = std::move(f);
    });
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(first_ ? options_.header_timeout : options_.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    first_ = false;
    stream_.expires_after(options_.header_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec2, std::size_t) {
                        self->on_read(ec2);
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      HttpResponse res{bhttp::status::payload_too_large, 11};
      res.set(bhttp::field::server, "keel");
      res.set(bhttp::field::content_type, "application/json");
      res.body() =
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Payload Too Large: the body exceeds )" +
          std::to_string(options_.max_body_bytes) + R"( bytes"}})";
      res.keep_alive(false);
      res.prepare_payload();
      write_response(std::move(res));
      return;
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset) {
      close();
      return;
    }
    // A malformed request line or header.
    HttpResponse res{bhttp::status::bad_request, 11};
    res.set(bhttp::field::server, "keel");
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = "Bad Request: " + ec.message() + "\n";
    res.keep_alive(false);
    res.prepare_payload();
    write_response(std::move(res));
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    stream_.expires_never();
    exchange_started();
    head_request_ = parser_->get().method() == bhttp::verb::head;
    handler_.handle(parser_->release(), shared_from_this());
  }

  void write_response(HttpResponse res) {
    if (closed_) return;
    if (head_request_) {
      // HEAD: the headers of the answer (its Content-Length included) and no
      // body, whoever answered, so the connection's next response parses.
      head_request_ = false;
      if (!res.body().empty()) {
        const std::size_t length = res.body().size();
        res.body().clear();
        res.content_length(length);
      }
    }
    keep_alive_ = res.keep_alive();
    res_ = std::make_shared<HttpResponse>(std::move(res));
    stream_.expires_after(options_.idle_timeout);
    bhttp::async_write(stream_, *res_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         self->res_ = nullptr;
                         self->exchange_done();
                         if (ec || !self->keep_alive_) {
                           self->close();
                           return;
                         }
                         self->do_read();
                       });
  }

  void write_sse_header(const Headers& headers) {
    if (closed_) return;
    sse_head_ = std::make_unique<bhttp::response<bhttp::empty_body>>(bhttp::status::ok, 11);
    sse_head_->set(bhttp::field::server, "keel");
    sse_head_->set(bhttp::field::content_type, "text/event-stream");
    sse_head_->set(bhttp::field::cache_control, "no-cache");
    for (const auto& [k, v] : headers) sse_head_->set(k, v);
    sse_head_->chunked(true);
    sse_head_->keep_alive(false);
    sse_sr_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*sse_head_);
    stream_.expires_after(kSseWriteTimeout);
    writing_ = true;
    bhttp::async_write_header(stream_, *sse_sr_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                self->writing_ = false;
                                if (ec) {
                                  self->peer_closed();
                                  return;
                                }
                                self->header_written_ = true;
                                self->watch_peer();
                                self->flush();
                              });
  }

  // While an SSE response is open, a read that ends means the peer left.
  // (The read has no deadline; each write sets its own: expires_after only
  // touches the timer of an operation not in progress.)
  void watch_peer() {
    stream_.expires_never();
    stream_.async_read_some(buffer_.prepare(1024),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->peer_closed();
                                return;
                              }
                              self->watch_peer();  // (pipelined bytes are ignored)
                            });
  }

  void flush() {
    if (closed_ || writing_ || !header_written_) return;
    if (!outq_.empty()) {
      writing_ = true;
      stream_.expires_after(kSseWriteTimeout);
      asio::async_write(stream_, bhttp::make_chunk(asio::buffer(outq_.front())),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          self->writing_ = false;
                          if (!self->outq_.empty()) {
                            self->queued_bytes_ -= self->outq_.front().size();
                            self->outq_.pop_front();
                          }
                          if (ec) {
                            self->peer_closed();
                            return;
                          }
                          self->flush();
                        });
      return;
    }
    if (finishing_ && !last_sent_) {
      last_sent_ = true;
      writing_ = true;
      stream_.expires_after(kSseWriteTimeout);
      asio::async_write(stream_, bhttp::make_chunk_last(),
                        [self = shared_from_this()](beast::error_code, std::size_t) {
                          self->writing_ = false;
                          self->close();
                        });
    }
  }

  void peer_closed() {
    if (closed_) return;
    auto cb = std::move(on_close_);
    on_close_ = nullptr;
    close();
    if (cb) cb();
  }

  // An exchange is in flight from its request read to its response written
  // (SSE: to the end of the stream) or the connection closed.
  void exchange_started() {
    if (in_exchange_) return;
    in_exchange_ = true;
    in_flight_.begin();
  }
  void exchange_done() {
    if (!in_exchange_) return;
    in_exchange_ = false;
    in_flight_.end();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    exchange_done();
    // (An event being written stays until its write completes: the write
    // still refers to it.)
    if (writing_ && !outq_.empty()) {
      outq_.erase(outq_.begin() + 1, outq_.end());
      queued_bytes_ = outq_.front().size();
    } else {
      outq_.clear();
      queued_bytes_ = 0;
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  HttpHandler& handler_;
  const HttpOptions& options_;
  InFlight& in_flight_;
  bool in_exchange_ = false;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool first_ = true;
  bool keep_alive_ = false;
  bool head_request_ = false;  // the request being answered is a HEAD
  std::shared_ptr<HttpResponse> res_;
  // SSE state.
  std::unique_ptr<bhttp::response<bhttp::empty_body>> sse_head_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> sse_sr_;
  std::deque<std::string> outq_;
  std::size_t queued_bytes_ = 0;  // the sizes of the events in outq_
  bool header_written_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  bool last_sent_ = false;
  bool closed_ = false;
  std::function<void()> on_close_;
};

bool is_loopback(const asio::ip::address& a) { return a.is_loopback(); }

}  // namespace

// Ownership (so that stop() and the destructor free everything): HttpServer
// owns Impl alone; Impl owns the io_context, the acceptor and the handler.
// Nothing a pending handler holds owns Impl or its io_context: the accept
// handler captures a plain `this` (it only runs on the io threads, which
// stop() joins before Impl can go), and an HttpSession holds only its socket
// and references to members declared before the io_context. Handlers still
// queued when the io_context is destroyed are destroyed without running,
// which frees the sessions they hold.
struct HttpServer::Impl {
  Impl(McpServer& s, HttpOptions o) : server(s), options(std::move(o)) {}

  McpServer& server;
  HttpOptions options;
  // Exchanges between request read and response written. (Declared before
  // the io_context: sessions it destroys still count down.)
  InFlight in_flight;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<HttpHandler> handler;
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  unsigned short bound_port = 0;
  std::atomic<bool> stopped{false};
  bool started = false;

  void accept() {
    acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        spdlog::warn("mcp http: accept: {}", ec.message());
      } else {
        std::make_shared<HttpSession>(std::move(socket), *handler, options, in_flight)->run();
      }
      if (acceptor->is_open()) accept();
    });
  }
};

HttpServer::HttpServer(McpServer& server, HttpOptions options)
    : impl_(std::make_unique<Impl>(server, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  Impl& m = *impl_;
  beast::error_code ec;
  std::string host = m.options.host;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("http: not an IP address: " + m.options.host);
  const bool loopback = is_loopback(address);
  if (!loopback && m.options.principals.empty()) {
    throw std::runtime_error("http: refusing to listen on non-loopback address " + m.options.host +
                             " without bearer-token principals (config http.principals)");
  }
  m.handler = std::make_unique<HttpHandler>(m.server, m.options, loopback);
  tcp::endpoint endpoint(address, m.options.port);
  m.acceptor.emplace(asio::make_strand(m.ioc));
  m.acceptor->open(endpoint.protocol(), ec);
  if (!ec) m.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(endpoint, ec);
  if (!ec) m.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("http: cannot listen on " + m.options.host + ":" +
                                   std::to_string(m.options.port) + ": " + ec.message());
  m.bound_port = m.acceptor->local_endpoint().port();
  m.guard.emplace(asio::make_work_guard(m.ioc));
  m.accept();
  const int n = std::max(1, m.options.io_threads);
  for (int i = 0; i < n; ++i) m.threads.emplace_back([&m] { m.ioc.run(); });
  m.started = true;
  spdlog::info("mcp http: listening on http://{}:{}{}", m.options.host, m.bound_port, m.options.path);
  if (m.options.on_listening) m.options.on_listening(m.bound_port);
}

unsigned short HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped.exchange(true)) return;
  spdlog::info("mcp http: stopping (finishing in-flight calls)");
  asio::post(m.acceptor->get_executor(), [&m] {
    beast::error_code ec;
    m.acceptor->close(ec);
  });
  m.handler->begin_shutdown();
  m.handler->wait_idle();
  // Let the last responses reach their sockets: wait until every exchange
  // read has its response written (or its connection closed), bounded.
  m.guard.reset();
  if (!m.in_flight.wait_idle(m.options.drain_timeout)) {
    spdlog::warn("mcp http: {} response(s) still unwritten after {} ms; closing",
                 m.in_flight.count(), m.options.drain_timeout.count());
  }
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  // No thread runs the io_context any more: the acceptor (whose pending
  // accept, if its close was not reached, is now cancelled) and the handler
  // (its workers joined, its sessions and streams released) go here; the
  // io_context and the handlers still queued in it go with Impl.
  m.acceptor.reset();
  m.handler.reset();
}

int serve_http(McpServer& server, const HttpOptions& options) {
  HttpServer http(server, options);
  http.start();
  asio::io_context sig_ioc;
  asio::signal_set signals(sig_ioc, SIGINT, SIGTERM);
  signals.async_wait([](beast::error_code, int sig) {
    spdlog::info("mcp http: signal {}", sig);
  });
  sig_ioc.run();
  http.stop();
  return 0;
}

void parse_host_port(const std::string& text, std::string& host, unsigned short& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw std::invalid_argument("expected HOST:PORT, got '" + text + "'");
  }
  host = text.substr(0, colon);
  const std::string p = text.substr(colon + 1);
  unsigned long n = 0;
  for (char c : p) {
    if (c < '0' || c > '9') throw std::invalid_argument("bad port in '" + text + "'");
    n = n * 10 + static_cast<unsigned long>(c - '0');
    if (n > 65535) throw std::invalid_argument("bad port in '" + text + "'");
  }
  port = static_cast<unsigned short>(n);
}

}  // namespace keel::mcp
