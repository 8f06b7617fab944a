// keel escalation ls|show|resolve, and the same over HTTP for `keel serve
// --http` (GET /escalations, GET /escalations/ID, POST /escalations/ID/resolve).
#include <cstdlib>
#include <iostream>
#include <map>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "tools/tools.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

// The human at the terminal, named in the journal by their login.
state::Principal terminal_human(const Workspace& ws) {
  const char* user = std::getenv("USER");
  return ws.human(user != nullptr && *user != '\0' ? std::string("human:") + user : "cli");
}

std::int64_t parse_id(const std::string& text) {
  std::size_t used = 0;
  long long id = 0;
  try {
    id = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || id < 1) {
    throw UsageError("'" + text + "' is not an escalation id (a positive integer)");
  }
  return id;
}

std::int64_t one_id(const Args& args) {
  if (args.positionals().size() != 1) throw UsageError("name exactly one escalation ID");
  return parse_id(args.positionals()[0]);
}

// "pending" | "resolved" | "all" -> the list filter.
std::optional<bool> status_filter(const std::string& status) {
  if (status == "all") return std::nullopt;
  if (status == "pending") return false;
  if (status == "resolved") return true;
  throw UsageError("--status must be pending, resolved or all");
}

void print_details(std::ostream& out, const state::Escalation& e) {
  out << "escalation " << e.id << "  (" << (e.resolved ? "resolved" : "pending") << ")\n"
      << "  agent:    " << e.agent << "\n"
      << "  reason:   " << e.reason << "\n"
      << "  impact:   " << state::to_string(e.impact)
      << (e.severity.empty() ? "" : "  severity " + e.severity) << "\n"
      << "  created:  " << e.created_at_ms << " (ms epoch)\n"
      << "  proposal: " << json::serialize(e.proposal) << "\n";
  if (!e.context.is_null()) out << "  context:  " << json::serialize(e.context) << "\n";
  if (e.resolved && e.decision) {
    out << "  decision: " << state::to_string(*e.decision) << " by " << e.resolver << " via "
        << e.resolved_via << " at " << e.resolved_at_ms << "\n"
        << "  do now:   " << json::serialize(e.resolved_proposal) << "\n";
  }
}

int run_ls(const Args& args, Workspace& ws) {
  state::EscalationListRequest req;
  req.resolved = status_filter(args.get("status").value_or("all"));
  req.cursor = args.get("cursor").value_or("");
  req.limit = static_cast<int>(args.get_int("limit").value_or(0));
  auto page = ws.store().list_escalations(terminal_human(ws), req);
  if (args.has("json")) {
    json::array arr;
    for (const auto& e : page.escalations) arr.push_back(tools::escalation_json(e));
    json::object out{{"escalations", std::move(arr)}};
    if (!page.next_cursor.empty()) out["next_cursor"] = page.next_cursor;
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  if (page.escalations.empty()) std::cout << "no escalations\n";
  for (const auto& e : page.escalations) std::cout << tools::escalation_line(e) << "\n";
  if (!page.next_cursor.empty()) std::cout << "more: --cursor " << page.next_cursor << "\n";
  return 0;
}

int run_show(const Args& args, Workspace& ws) {
  const state::Escalation e = ws.store().get_escalation(terminal_human(ws), one_id(args));
  if (args.has("json")) {
    std::cout << json::serialize(tools::escalation_json(e)) << "\n";
  } else {
    print_details(std::cout, e);
  }
  return 0;
}

int run_resolve(const Args& args, Workspace& ws) {
  state::ResolveEscalationRequest req;
  req.id = one_id(args);
  const auto decision = args.get("decision");
  if (!decision) throw UsageError("--decision override|modify|abort is required");
  const auto parsed = state::parse_escalation_decision(*decision);
  if (!parsed) throw UsageError("--decision must be override, modify or abort");
  req.decision = *parsed;
  if (auto text = args.get("proposal")) {
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec) throw UsageError("--proposal is not valid JSON: " + ec.message());
    req.proposal = std::move(v);
  }
  if (req.decision == state::EscalationDecision::kModify && !req.proposal) {
    throw UsageError("--decision modify needs --proposal JSON");
  }
  if (req.decision != state::EscalationDecision::kModify && req.proposal) {
    throw UsageError("--proposal goes only with --decision modify");
  }
  req.via = "cli";
  auto r = ws.store().resolve_escalation(terminal_human(ws), req);
  if (!r.resolved) {
    std::cerr << "keel: CONFLICT: " << tools::conflict_message(r.escalation) << "\n";
    return 1;
  }
  if (args.has("json")) {
    std::cout << json::serialize(tools::escalation_json(r.escalation)) << "\n";
  } else {
    std::cout << "resolved escalation " << r.escalation.id << ": "
              << state::to_string(*r.escalation.decision) << "\n";
  }
  return 0;
}

// ------------------------------------------------------------------- HTTP

mcp::HttpRouteResponse json_response(unsigned status, const json::value& body) {
  return mcp::HttpRouteResponse{status, "application/json", json::serialize(body) + "\n"};
}

mcp::HttpRouteResponse error_response(unsigned status, std::string_view code,
                                      const std::string& message, json::object extra = {}) {
  extra["error"] = json::object{{"code", code}, {"message", message}};
  return json_response(status, extra);
}

unsigned http_status(state::ErrorCode code) {
  switch (code) {
    case state::ErrorCode::kInvalidArgument: return 400;
    case state::ErrorCode::kPermissionDenied: return 403;
    case state::ErrorCode::kNotFound: return 404;
    case state::ErrorCode::kBusy: return 503;
    default: return 500;
  }
}

std::string percent_decode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += in[i] == '+' ? ' ' : in[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

mcp::HttpRouteResponse serve_escalations(state::Store& store, const state::Principal& who,
                                         const mcp::HttpRouteRequest& in) {
  // "/escalations", "/escalations/ID", "/escalations/ID/resolve"
  std::string_view rest = std::string_view(in.path).substr(std::string_view("/escalations").size());
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string id_text(rest.substr(0, rest.find('/')));
  const bool resolve = rest.size() > id_text.size() && rest.substr(id_text.size()) == "/resolve";
  if (!id_text.empty() && !resolve && rest.size() != id_text.size()) {
    return error_response(404, "NOT_FOUND", "no such resource: " + in.path);
  }

  if (id_text.empty()) {
    if (in.method != "GET") return error_response(405, "METHOD_NOT_ALLOWED", "use GET");
    const auto q = parse_query(in.query);
    state::EscalationListRequest req;
    try {
      req.resolved = status_filter(q.count("status") ? q.at("status") : "all");
    } catch (const UsageError&) {
      return error_response(400, "INVALID_ARGUMENT", "status must be pending, resolved or all");
    }
    if (q.count("cursor")) req.cursor = q.at("cursor");
    if (q.count("limit")) {
      try {
        req.limit = static_cast<int>(parse_id(q.at("limit")));
      } catch (const UsageError&) {
        return error_response(400, "INVALID_ARGUMENT", "limit must be a positive integer");
      }
    }
    auto page = store.list_escalations(who, req);
    json::array arr;
    for (const auto& e : page.escalations) arr.push_back(tools::escalation_json(e));
    json::object out{{"escalations", std::move(arr)}};
    if (!page.next_cursor.empty()) out["next_cursor"] = page.next_cursor;
    return json_response(200, out);
  }

  std::int64_t id = 0;
  try {
    id = parse_id(id_text);
  } catch (const UsageError& e) {
    return error_response(404, "NOT_FOUND", e.what());
  }
  if (!resolve) {
    if (in.method != "GET") return error_response(405, "METHOD_NOT_ALLOWED", "use GET");
    return json_response(200, tools::escalation_json(store.get_escalation(who, id)));
  }

  if (in.method != "POST") return error_response(405, "METHOD_NOT_ALLOWED", "use POST");
  boost::system::error_code ec;
  json::value body = json::parse(in.body, ec);
  if (ec || !body.is_object()) {
    return error_response(400, "INVALID_ARGUMENT",
                          "the body must be a JSON object {decision, proposal?}");
  }
  const json::value* decision = body.as_object().if_contains("decision");
  const auto parsed = decision != nullptr && decision->is_string()
                          ? state::parse_escalation_decision(decision->get_string())
                          : std::nullopt;
  if (!parsed) {
    return error_response(400, "INVALID_ARGUMENT", "decision must be override, modify or abort");
  }
  state::ResolveEscalationRequest req;
  req.id = id;
  req.decision = *parsed;
  if (const json::value* p = body.as_object().if_contains("proposal")) req.proposal = *p;
  req.via = "http";
  auto r = store.resolve_escalation(who, req);
  if (!r.resolved) {
    return error_response(409, "CONFLICT", tools::conflict_message(r.escalation),
                          json::object{{"escalation", tools::escalation_json(r.escalation)}});
  }
  return json_response(200, tools::escalation_json(r.escalation));
}

}  // namespace

mcp::HttpRoute escalation_http_route(state::Store& store, const Workspace& ws) {
  return [&store, &ws](const mcp::HttpRouteRequest& in) {
    // A bearer token's principal acts with its capabilities. Without
    // configured principals the server listens on loopback only, and its
    // caller is the local human (who could run `keel escalation` anyway).
    state::Principal who;
    if (!in.auth_subject.empty()) {
      const auto& principals = ws.config().http_principals;
      auto it = principals.find(in.auth_subject);
      if (it == principals.end()) return error_response(403, "PERMISSION_DENIED", "unknown principal");
      who = state::Principal{it->second.agent, ws.project_id(), "", it->second.capabilities};
    } else {
      who = ws.human("human:http");
    }
    try {
      return serve_escalations(store, who, in);
    } catch (const state::StoreError& e) {
      return error_response(http_status(e.code()), state::to_string(e.code()), e.what());
    }
  };
}

std::vector<Command> escalation_commands() {
  return {
      Command{{"escalation", "ls"}, "keel escalation ls [--status pending|resolved|all] [--json]",
              "escalations of the project, newest first (pending and resolved)", "",
              {{"status", "S", "pending, resolved or all (default all)"},
               {"cursor", "C", "continue after a previous page"},
               {"limit", "N", "page size (default 50, at most 500)"},
               {"json", "", "print JSON"}},
              run_ls},
      Command{{"escalation", "show"}, "keel escalation show ID [--json]",
              "one escalation: reason, proposal, context and any decision", "",
              {{"json", "", "print JSON"}}, run_show},
      Command{{"escalation", "resolve"},
              "keel escalation resolve ID --decision override|modify|abort [--proposal JSON]",
              "decide a pending escalation (journaled as RESOLVE)",
              "override: the agent goes ahead as proposed; modify: it goes ahead with\n"
              "--proposal (any JSON); abort: it does not. When someone resolved it first,\n"
              "nothing changes and the command fails (exit 1) with CONFLICT.",
              {{"decision", "D", "override, modify or abort"},
               {"proposal", "JSON", "with modify: the modified proposal"},
               {"json", "", "print the resolved escalation as JSON"}},
              run_resolve},
  };
}

}  // namespace keel::cli
