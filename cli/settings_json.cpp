// Agent JSON settings files: tolerant parsing, JSON.stringify-style printing.
#include "cli/settings_json.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The leading whitespace of the first indented line: the file's indent unit.
std::string detect_indent(std::string_view text) {
  for (std::size_t nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', nl + 1)) {
    std::size_t start = nl + 1;
    std::size_t end = start;
    while (end < text.size() && (text[end] == ' ' || text[end] == '\t')) ++end;
    if (end == start || end >= text.size() || text[end] == '\n' || text[end] == '\r') continue;
    if (text[start] == '\t') return "\t";
    return std::string(end - start, ' ');
  }
  return "  ";
}

void render(const json::value& v, const std::string& indent, int depth, std::string& out) {
  const json::object* o = v.if_object();
  const json::array* a = v.if_array();
  if (!o && !a) {
    out += json::serialize(v);
    return;
  }
  if (o ? o->empty() : a->empty()) {
    out += o ? "{}" : "[]";
    return;
  }
  auto newline = [&](int d) {
    out += '\n';
    for (int i = 0; i < d; ++i) out += indent;
  };
  bool first = true;
  // One element on its own line, after its key in an object.
  auto element = [&](const json::string_view* key, const json::value& e) {
    if (!first) out += ',';
    first = false;
    newline(depth + 1);
    if (key) {
      out += json::serialize(*key);
      out += ": ";
    }
    render(e, indent, depth + 1, out);
  };
  out += o ? '{' : '[';
  if (o) {
    for (const auto& kv : *o) {
      const json::string_view key = kv.key();
      element(&key, kv.value());
    }
  } else {
    for (const auto& e : *a) element(nullptr, e);
  }
  newline(depth);
  out += o ? '}' : ']';
}

}  // namespace

ParsedSettings parse_settings_json(std::string_view text, std::string_view where) {
  ParsedSettings parsed;
  if (blank(text)) return parsed;  // an empty file holds no settings
  parsed.indent = detect_indent(text);
  parsed.trailing_newline = text.back() == '\n';

  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    json::parse_options lenient;
    lenient.allow_comments = true;
    lenient.allow_trailing_commas = true;
    boost::system::error_code ec2;
    v = json::parse(text, ec2, json::storage_ptr(), lenient);
    if (ec2) {
      throw SettingsError(std::string(where) + ": not valid JSON (" + ec.message() +
                          "); fix or move it, then run keel install again");
    }
    parsed.lenient = true;
  }
  if (!v.is_object()) {
    throw SettingsError(std::string(where) + ": expected a JSON object at the top level");
  }
  parsed.root = std::move(v.get_object());
  return parsed;
}

std::string render_settings_json(const json::value& v, const std::string& indent,
                                 bool trailing_newline) {
  std::string out;
  render(v, indent, 0, out);
  if (trailing_newline) out += '\n';
  return out;
}

}  // namespace keel::cli
