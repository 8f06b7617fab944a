// apply_patch.cpp — see apply_patch.h.
#include "hooks/apply_patch.h"

#include <filesystem>
#include <optional>
#include <set>

namespace keel::hooks {

namespace {

namespace fs = std::filesystem;

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::string normal(std::string_view p) {
  std::string s = fs::path(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// `p` taken from `dir` ("" → p stays relative).
std::string join(const std::string& dir, std::string_view p) {
  if (dir.empty() || (!p.empty() && p.front() == '/')) return normal(p);
  return normal((fs::path(dir) / fs::path(p)).string());
}

std::string shorten(std::string_view s, std::size_t n = 80) {
  std::string r(s.substr(0, n));
  for (char& ch : r)
    if (ch == '\n') ch = ' ';
  return s.size() > n ? r + "…" : r;
}

// ---- the patch text ---------------------------------------------------------------------------

struct PatchText {
  bool known = false;
  std::string text;
  std::string why;  // when not known
};

// What apply_patch reads: its arguments when it has any, else its stdin.
PatchText patch_text(const Command& c) {
  PatchText t;
  if (c.operands_from_stdin) {  // xargs apply_patch, find -exec apply_patch {} ;
    t.why = "its arguments are supplied at run time (" + (c.wrappers.empty() ? std::string("xargs") : c.wrappers.back()) + ")";
    return t;
  }
  if (c.argv.size() > 1) {
    for (std::size_t k = 1; k < c.argv.size(); ++k) {
      const Word& w = c.argv[k];
      if (!w.resolved) {
        t.why = "its patch argument is not known until run time (" + shorten(w.text) + ")";
        return t;
      }
      t.text += w.text;
      t.text += '\n';
    }
    // "*** Begin Patch\n*** Add File: a\n..." in double quotes keeps the backslashes; read them as
    // the line breaks they were meant to be rather than as one long file name.
    if (t.text.find('\n') + 1 == t.text.size() && t.text.find("\\n") != std::string::npos) {
      std::string lines;
      for (std::size_t k = 0; k < t.text.size(); ++k) {
        if (t.text[k] == '\\' && k + 1 < t.text.size() && t.text[k + 1] == 'n') {
          lines += '\n';
          ++k;
        } else {
          lines += t.text[k];
        }
      }
      t.text = std::move(lines);
    }
    t.known = true;
    return t;
  }
  switch (c.stdin_kind) {
    case StdinKind::Heredoc: {
      // The redirect that supplies stdin (the last one, as compute_stdin takes it).
      const Redirect* from = nullptr;
      for (const Redirect& r : c.redirects)
        if (r.fd <= 0 && (r.is_heredoc() || r.op == "<<<" || r.op == "<" || r.op == "<>")) from = &r;
      if (from && from->is_heredoc() && !from->target.quoted &&
          (from->body.find_first_of("$`") != std::string::npos ||
           from->body.find("\\\n") != std::string::npos)) {
        t.why = "its heredoc's delimiter is unquoted, so the shell expands $ and ` in the patch at run "
                "time (write <<'EOF')";
        return t;
      }
      [[fallthrough]];
    }
    case StdinKind::HereString:
    case StdinKind::Pipe:
      if (c.stdin_known) {
        t.known = true;
        t.text = c.stdin_text;
        return t;
      }
      t.why = c.stdin_kind == StdinKind::Pipe ? "it reads its patch from a pipe whose text is not known"
                                               : "its here-string is not known until run time";
      return t;
    case StdinKind::File:
      t.why = "it reads its patch from " + shorten(c.stdin_text) + ", whose text is not known";
      return t;
    case StdinKind::Inherited:
      break;
  }
  t.why = "it reads its patch from an input that is not known";
  return t;
}

// ---- the directory it runs in -------------------------------------------------------------

enum class CdEffect { Applies, Irrelevant, Unknown };

bool is_cd(const Command& c) { return c.name == "cd" || c.name == "pushd" || c.name == "popd"; }

// Code whose own shell process a cd inside it cannot leave.
bool own_process(Origin o) {
  return o == Origin::Subshell || o == Origin::CommandSubst || o == Origin::ProcessSubst;
}

// Groupings that share the shell of the text around them.
bool plain(Origin o) {
  return !own_process(o) && o != Origin::Group && o != Origin::Function && o != Origin::Alias;
}

const Command* at(const Script& s, int i) {
  return i >= 0 && static_cast<std::size_t>(i) < s.commands.size() ? &s.commands[static_cast<std::size_t>(i)]
                                                                    : nullptr;
}

// Whether the cd at index k (< chain.front()) changes the directory of the command whose
// ancestry (itself, the command that runs it, ...) is `chain`. The analyser's list is flat, so
// the answer is read from the commands' parent, depth and origin; what they cannot tell is
// Unknown, never a guess.
CdEffect cd_effect(const Script& s, int k, const std::vector<int>& chain) {
  int kj = k;
  for (int guard = 0; guard < 64; ++guard) {
    const Command* K = at(s, kj);
    if (!K) return CdEffect::Unknown;
    for (int x : chain) {
      const Command* X = at(s, x);
      if (!X || K->parent != X->parent) continue;
      // K and X are in the same text (the line, or what one command runs).
      if (kj >= x) return CdEffect::Irrelevant;  // inside x's own substitutions, or after x
      if (K->background || K->pipe_len > 1) return CdEffect::Irrelevant;  // a subshell of its own
      if (kj != k) {
        // The cd is in code K runs: in K's own shell only for eval and source.
        return K->name == "eval" || K->name == "source" || K->name == "." ? CdEffect::Unknown
                                                                          : CdEffect::Irrelevant;
      }
      if (K->depth > X->depth)  // $( ) / <( ) beside x, or an alias expansion (same shell)
        return K->origin == Origin::Alias ? CdEffect::Unknown : CdEffect::Irrelevant;
      if (K->depth < X->depth) return CdEffect::Unknown;
      if (K->origin == X->origin)
        return own_process(K->origin) && K->origin != Origin::Subshell ? CdEffect::Unknown
                                                                      : CdEffect::Applies;
      if (own_process(K->origin)) return CdEffect::Irrelevant;  // ( cd a ); apply_patch
      if (plain(K->origin) && (X->origin == Origin::Subshell || X->origin == Origin::Group))
        return CdEffect::Applies;  // cd a && ( apply_patch ... )
      return CdEffect::Unknown;    // { cd a; }; apply_patch, a function's cd, ...
    }
    kj = K->parent;
    if (kj < 0) return CdEffect::Unknown;
  }
  return CdEffect::Unknown;
}

// The directory after cd/pushd/popd command c run in `dir`; nullopt when not known.
std::optional<std::string> cd_target(const Command& c, const std::optional<std::string>& dir,
                                     std::string_view home) {
  if (c.name == "popd") return std::nullopt;
  std::vector<const Word*> operands;
  bool options_done = false;
  for (std::size_t k = 1; k < c.argv.size(); ++k) {
    const Word& w = c.argv[k];
    if (!options_done && w.resolved && w.text == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && w.resolved && w.text.size() > 1 && w.text[0] == '-' &&
        w.text.find_first_not_of("LPe@n", 1) == std::string::npos)
      continue;
    operands.push_back(&w);
  }
  if (operands.size() > 1) return std::nullopt;
  if (operands.empty()) {
    if (c.name == "pushd" || home.empty()) return std::nullopt;
    return normal(home);
  }
  const Word& w = *operands.front();
  const std::string& t = w.text;
  if (!w.resolved || w.glob || t.empty() || t == "-" || (c.name == "pushd" && (t[0] == '+' || t[0] == '-')))
    return std::nullopt;
  if (t[0] == '~' && !w.quoted) {
    if (home.empty() || (t.size() > 1 && t[1] != '/')) return std::nullopt;  // ~user
    return join(std::string(home), t.size() > 2 ? std::string_view(t).substr(2) : std::string_view("."));
  }
  if (t[0] == '/') return normal(t);
  if (!dir) return std::nullopt;
  return join(*dir, t);
}

// The directory command ci runs in: `cwd` moved by the cds that apply to it.
std::optional<std::string> run_dir(const Script& s, int ci, std::string_view cwd, std::string_view home) {
  std::vector<int> chain;
  for (int x = ci, guard = 0; x >= 0 && guard < 64; ++guard) {
    chain.push_back(x);
    const Command* X = at(s, x);
    x = X ? X->parent : -1;
  }
  std::optional<std::string> dir = cwd.empty() ? std::string() : normal(cwd);
  for (int k = 0; k < ci; ++k) {
    const Command& c = s.commands[static_cast<std::size_t>(k)];
    if (!is_cd(c)) continue;
    switch (cd_effect(s, k, chain)) {
      case CdEffect::Irrelevant:
        break;
      case CdEffect::Unknown:
        dir.reset();
        break;
      case CdEffect::Applies:
        dir = cd_target(c, dir, home);
        break;
    }
  }
  return dir;
}

}  // namespace

std::vector<std::string> patch_header_paths(std::string_view patch) {
  static constexpr std::string_view kMarkers[] = {"*** Update File: ", "*** Add File: ", "*** Delete File: ",
                                                  "*** Move to: "};
  static constexpr std::string_view kDiffHeads[] = {"+++ b/", "--- a/"};
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  auto add = [&](std::string_view p) {
    if (!p.empty() && seen.insert(std::string(p)).second) out.emplace_back(p);
  };
  std::size_t k = 0;
  while (k < patch.size()) {
    std::size_t e = patch.find('\n', k);
    std::string_view line = rtrim(patch.substr(k, e == std::string_view::npos ? std::string_view::npos : e - k));
    std::string_view marked = ltrim(line);
    if (marked.starts_with("*** ")) {
      for (auto h : kMarkers)
        if (marked.starts_with(h)) add(marked.substr(h.size()));
    } else {
      for (auto h : kDiffHeads)
        if (line.starts_with(h)) add(line.substr(h.size()));
    }
    if (e == std::string_view::npos) break;
    k = e + 1;
  }
  return out;
}

bool is_apply_patch_name(std::string_view name) noexcept {
  return name == "apply_patch" || name == "applypatch";
}

std::vector<ShellPatch> shell_patches(const Script& script, std::string_view cwd, std::string_view home) {
  std::vector<ShellPatch> out;
  for (std::size_t i = 0; i < script.commands.size(); ++i) {
    const Command& c = script.commands[i];
    if (!is_apply_patch_name(c.name)) continue;
    ShellPatch p;
    p.command = static_cast<int>(i);
    PatchText t = patch_text(c);
    if (!t.known) {
      p.unresolved = std::move(t.why);
      out.push_back(std::move(p));
      continue;
    }
    std::optional<std::optional<std::string>> dir;  // computed for the first relative path
    for (std::string& h : patch_header_paths(t.text)) {
      if (h.front() == '/') {
        p.paths.push_back(normal(h));
        continue;
      }
      if (!dir) dir = run_dir(script, static_cast<int>(i), cwd, home);
      if (*dir) {
        p.paths.push_back(join(**dir, h));
      } else if (p.unresolved.empty()) {
        p.unresolved = "the directory it runs in is not known (a cd before it cannot be resolved), so "
                       "neither is where " + shorten(h) + " is";
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace keel::hooks
