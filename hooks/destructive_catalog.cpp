// destructive_catalog.cpp — see destructive_catalog.h.
#include "hooks/destructive_catalog.h"

#include "hooks/glob.h"
#include "hooks/text.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <vector>

namespace keel::hooks {
namespace {

using Args = std::vector<Word>;

bool one_of(std::string_view x, std::initializer_list<std::string_view> l) {
  return std::find(l.begin(), l.end(), x) != l.end();
}

using text::lower;

std::string base(std::string_view s) {
  while (s.size() > 1 && s.back() == '/') s.remove_suffix(1);
  std::size_t p = s.find_last_of('/');
  return std::string(p == std::string_view::npos ? s : s.substr(p + 1));
}

struct Best {
  std::optional<CatalogHit> hit;
  void add(Outcome o, std::string_view id, std::string reason, bool unresolved = false) {
    if (hit && severity(hit->outcome) >= severity(o)) return;
    hit = CatalogHit{o, std::string(id), std::move(reason), unresolved};
  }
};

// Short option bundle test: -rf contains 'r'. Long options are compared whole.
bool has_short(const Word& w, char c) {
  const std::string& t = w.text;
  return t.size() >= 2 && t[0] == '-' && t[1] != '-' && t.find(c, 1) != std::string::npos;
}

bool is_option(const Word& w) { return w.resolved && w.text.size() > 1 && w.text[0] == '-'; }

// ---------------------------------------------------------------------------------------------
// Path targets

enum class Target { Root, Home, Parent, Wildcard, System, Tmp, Artifact, Other, Unresolved };

const char* target_desc(Target t) {
  switch (t) {
    case Target::Root: return "the filesystem root";
    case Target::Home: return "the home directory";
    case Target::Parent: return "a path outside the working directory (..)";
    case Target::Wildcard: return "everything in the working directory";
    case Target::System: return "a system directory";
    case Target::Tmp: return "a temporary path";
    case Target::Artifact: return "a build artifact";
    case Target::Other: return "a path";
    case Target::Unresolved: return "a path not known until run time";
  }
  return "a path";
}

std::string normalise(std::string_view in) {
  std::string s;
  for (char ch : in) {
    if (ch == '\\') ch = '/';
    if (ch == '/' && !s.empty() && s.back() == '/') continue;
    s += ch;
  }
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  while (s.size() > 2 && s.ends_with("/.")) s.resize(s.size() - 2);
  while (s.starts_with("./") && s.size() > 2) s.erase(0, 2);
  return s;
}

// Folds "dir/.." pairs of a relative path lexically (build/../src → src, a/../.. → ..), so that
// a detour through an artifact directory is judged by where it ends.
std::string fold_dotdot(std::string_view p) {
  std::vector<std::string_view> comps;
  std::size_t k = 0;
  while (k <= p.size()) {
    std::size_t e = p.find('/', k);
    std::string_view comp = p.substr(k, e == std::string_view::npos ? std::string_view::npos : e - k);
    if (comp == ".." && !comps.empty() && comps.back() != "..") comps.pop_back();
    else if (!comp.empty() && comp != ".") comps.push_back(comp);
    if (e == std::string_view::npos) break;
    k = e + 1;
  }
  std::string out;
  for (auto c : comps) {
    if (!out.empty()) out += '/';
    out += c;
  }
  return out.empty() ? std::string(".") : out;
}

bool escapes_cwd(std::string_view p) {
  int depth = 0;
  std::size_t k = 0;
  while (k <= p.size()) {
    std::size_t e = p.find('/', k);
    std::string_view comp = p.substr(k, e == std::string_view::npos ? std::string_view::npos : e - k);
    if (comp == "..") {
      if (--depth < 0) return true;
    } else if (!comp.empty() && comp != ".") {
      ++depth;
    }
    if (e == std::string_view::npos) break;
    k = e + 1;
  }
  return false;
}

bool artifact_name(std::string_view c) {
  if (one_of(c, {"build", "dist", "out", "target", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache",
                 ".ruff_cache", "coverage", ".coverage", "htmlcov", ".next", ".nuxt", ".turbo", ".parcel-cache",
                 ".cache", ".gradle", ".tox", ".nox", ".eggs", "obj", "tmp", ".tmp", "temp", ".svelte-kit",
                 "storybook-static", ".angular", ".expo", "_build", ".dart_tool", "DerivedData", "bazel-out",
                 "bazel-bin", "bazel-testlogs", ".build", "lib-cov", ".nyc_output", ".vite", ".webpack",
                 "cmake-build", "CMakeFiles", "CMakeCache.txt", "release", "debug", "wheelhouse", ".hypothesis",
                 "site", "public/build", ".docusaurus", ".output", ".vercel", ".serverless", ".aws-sam"}))
    return true;
  return c.starts_with("build-") || c.starts_with("cmake-build-") || c.ends_with(".egg-info") ||
         c.starts_with("dist-") || c.ends_with(".o") || c.ends_with(".pyc") || c.ends_with(".log");
}

Target classify(const Word& w, const CatalogOptions& o) {
  std::string t = normalise(w.text);
  if (!w.resolved) {
    if (t.starts_with("$HOME") || t.starts_with("${HOME}")) {
      std::string_view rest = std::string_view(t).substr(t[1] == '{' ? 7 : 5);
      if (rest.empty() || rest == "/" || rest == "/*" || rest == "/.*") return Target::Home;
    }
    if (t.starts_with("$TMPDIR/") || t.starts_with("${TMPDIR}/")) return Target::Tmp;
    return Target::Unresolved;
  }
  if (t.empty()) return Target::Other;
  if (!t.starts_with("/") && !t.starts_with("~") && t.find("..") != std::string::npos) t = fold_dotdot(t);
  if (t.find_first_not_of("/*.") == std::string::npos && t.starts_with("/")) return Target::Root;
  if (t == "/*" || t == "/.*") return Target::Root;
  if (t.starts_with("~")) {
    std::size_t slash = t.find('/');
    std::string_view rest = slash == std::string::npos ? std::string_view() : std::string_view(t).substr(slash);
    if (rest.empty() || rest == "/*" || rest == "/.*" || rest == "/." || rest == "/.." || escapes_cwd(rest.substr(1)))
      return Target::Home;
    return Target::Other;
  }
  if (!o.home.empty()) {
    std::string h = normalise(o.home);
    if (t == h || t == h + "/*" || t == h + "/.*") return Target::Home;
  }
  if (t == "." || t == "*" || t == ".*" || t == "./*" || t == "./.*" || t == "*/" || t == "**" || t == "*.*")
    return Target::Wildcard;
  if (!o.cwd.empty() && (t == normalise(o.cwd) || t == normalise(o.cwd) + "/*")) return Target::Wildcard;
  if (t == ".." || t.starts_with("../") || (!t.starts_with("/") && escapes_cwd(t))) return Target::Parent;
  if (t.starts_with("/")) {
    if (t.find("/../") != std::string::npos || t.ends_with("/..")) return Target::Parent;
    std::vector<std::string_view> comps;
    std::string_view sv = std::string_view(t).substr(1);
    while (!sv.empty()) {
      std::size_t e = sv.find('/');
      comps.push_back(sv.substr(0, e));
      if (e == std::string_view::npos) break;
      sv.remove_prefix(e + 1);
    }
    std::string_view first = comps.empty() ? std::string_view() : comps[0];
    bool glob = w.glob;
    if (one_of(first, {"tmp", "var/tmp"}) || (first == "private" && comps.size() > 1 && comps[1] == "tmp") ||
        (first == "var" && comps.size() > 1 && comps[1] == "tmp") || (first == "dev" && comps.size() > 1 && comps[1] == "shm")) {
      std::size_t need = first == "tmp" ? 2 : 3;
      return comps.size() >= need && !glob ? Target::Tmp : Target::System;
    }
    if ((first == "home" || first == "Users") && comps.size() <= 2) return comps.size() == 2 ? Target::Home : Target::System;
    if (first == "root" && comps.size() == 1) return Target::Home;
    if (one_of(first, {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "root", "sbin",
                       "srv", "sys", "usr", "var", "home", "Users", "System", "Library", "Applications", "private",
                       "snap", "mnt", "media", "nix", "Volumes", "run", "cores", "efi"}) &&
        (comps.size() <= 2 || (glob && comps.size() <= 3)))
      return Target::System;
    if (comps.size() == 1) return Target::System;  // any top-level directory
    return Target::Other;
  }
  // Relative path inside the working directory.
  std::string_view sv = t;
  std::string_view first = sv.substr(0, sv.find('/'));
  std::string last = base(t);
  if (!w.glob && (artifact_name(first) || artifact_name(last))) return Target::Artifact;
  if (w.glob && artifact_name(first) && first.find_first_of("*?[") == std::string_view::npos) return Target::Artifact;
  return Target::Other;
}

bool is_device(std::string_view p) {
  if (!p.starts_with("/dev/")) return false;
  std::string_view d = p.substr(5);
  if (one_of(d, {"null", "zero", "stdout", "stderr", "stdin", "tty", "random", "urandom", "full", "ptmx"}))
    return false;
  if (d.starts_with("fd/") || d.starts_with("pts/") || d.starts_with("shm/") || d.starts_with("tcp/") || d.starts_with("udp/"))
    return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Per-command checks

void check_rm(const Command& c, const CatalogOptions& o, Best& b) {
  bool recursive = c.name == "rimraf", force = false, no_preserve = false, ended = false;
  std::vector<const Word*> targets;
  for (std::size_t k = 1; k < c.argv.size(); ++k) {
    const Word& w = c.argv[k];
    if (!ended && w.resolved && w.text == "--") {
      ended = true;
      continue;
    }
    if (!ended && is_option(w)) {
      const std::string& t = w.text;
      if (t == "--recursive") recursive = true;
      else if (t == "--force") force = true;
      else if (t == "--no-preserve-root") no_preserve = true;
      else if (t[1] != '-') {
        if (has_short(w, 'r') || has_short(w, 'R')) recursive = true;
        if (has_short(w, 'f')) force = true;
      }
      continue;
    }
    targets.push_back(&w);
  }
  (void)force;
  if (no_preserve) {
    b.add(Outcome::Deny, "rm.no-preserve-root", "rm --no-preserve-root disables the guard against deleting /");
    return;
  }
  if (targets.empty()) {
    if (c.operands_from_stdin)
      b.add(Outcome::Ask, recursive ? "rm.recursive" : "rm.unresolved",
            std::string(recursive ? "recursive rm" : "rm") + " of paths supplied at run time (xargs/find/parallel)", true);
    return;
  }
  for (const Word* w : targets) {
    Target t = classify(*w, o);
    if (c.operands_from_stdin && w->text.find("{}") != std::string::npos) t = Target::Unresolved;
    std::string what = std::string(recursive ? "recursive rm" : "rm") + " of " + target_desc(t) + " (" + w->text + ")";
    if (recursive) {
      switch (t) {
        case Target::Root: b.add(Outcome::Deny, "rm.root", what); break;
        case Target::Home: b.add(Outcome::Deny, "rm.home", what); break;
        case Target::Parent: b.add(Outcome::Deny, "rm.parent", what); break;
        case Target::Wildcard: b.add(Outcome::Deny, "rm.wildcard", what); break;
        case Target::System: b.add(Outcome::Deny, "rm.system", what); break;
        case Target::Unresolved: b.add(Outcome::Ask, "rm.unresolved", what, true); break;
        case Target::Other: b.add(Outcome::Ask, "rm.recursive", what); break;
        case Target::Tmp:
        case Target::Artifact: break;
      }
    } else {
      switch (t) {
        case Target::Root:
        case Target::System:
        case Target::Home: b.add(Outcome::Ask, "rm.system", what); break;
        case Target::Wildcard: b.add(Outcome::Ask, "rm.wildcard", what); break;
        case Target::Unresolved: b.add(Outcome::Ask, "rm.unresolved", what, true); break;
        case Target::Parent:
          if (w->glob) b.add(Outcome::Ask, "rm.parent", what);
          break;
        default: break;
      }
    }
  }
  if (c.operands_from_stdin && recursive)
    b.add(Outcome::Ask, "rm.recursive", "recursive rm of paths supplied at run time (xargs/find/parallel)", true);
}

// True for a git checkout operand that is a pathspec rather than a branch, tag or commit.
bool looks_like_pathspec(std::string_view t) {
  if (t.empty() || t == "-" || t == "@") return false;
  if (t.ends_with("/") || t.starts_with("./") || t.starts_with("../") || t.starts_with("/") || t.starts_with(":("))
    return true;
  if (t.find_first_of("*?[") != std::string_view::npos) return true;
  std::string last = base(t);
  std::size_t dot = last.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  std::string ext = lower(std::string_view(last).substr(dot + 1));
  return one_of(ext, {"c", "cc", "cpp", "cxx", "h", "hh", "hpp", "hxx", "m", "mm", "go", "rs", "py", "rb", "js", "jsx",
                      "mjs", "cjs", "ts", "tsx", "java", "kt", "kts", "scala", "swift", "cs", "php", "lua", "sh",
                      "bash", "zsh", "md", "rst", "txt", "json", "jsonc", "yaml", "yml", "toml", "ini", "cfg", "xml",
                      "html", "htm", "css", "scss", "sql", "lock", "gradle", "cmake", "mk", "proto", "vue", "svelte",
                      "ipynb", "env", "csv", "gitignore"});
}

// Arguments of git after the subcommand.
void check_git(const Command& c, Best& b) {
  const Args& a = c.argv;
  if (a.size() < 2) return;
  if (!a[1].resolved) {
    b.add(Outcome::Ask, "git.unresolved", "git subcommand not known until run time (" + a[1].text + ")", true);
    return;
  }
  const std::string sub = a[1].text;
  // git accepts any unambiguous prefix of a long option (--ha for --hard, gitcli(7)); a prefix
  // of two letters or more counts here, ambiguous or not (git refuses those anyway).
  auto has = [&](std::initializer_list<std::string_view> opts) {
    for (std::size_t k = 2; k < a.size(); ++k) {
      const std::string& t = a[k].text;
      std::string_view given = std::string_view(t).substr(0, t.find('='));
      for (auto o : opts) {
        if (t == o || (o.starts_with("--") && t.starts_with(std::string(o) + "="))) return true;
        if (o.starts_with("--") && given.starts_with("--") && given.size() >= 4 && o.starts_with(given)) return true;
      }
    }
    return false;
  };
  auto short_flag = [&](char ch) {
    for (std::size_t k = 2; k < a.size(); ++k)
      if (has_short(a[k], ch)) return true;
    return false;
  };
  auto operands = [&]() {
    std::vector<const Word*> ops;
    bool dd = false;
    for (std::size_t k = 2; k < a.size(); ++k) {
      if (a[k].text == "--" && !dd) {
        dd = true;
        continue;
      }
      if (!dd && is_option(a[k])) continue;
      ops.push_back(&a[k]);
    }
    return ops;
  };
  auto all_paths = [](const Word* w) {
    return w->text == "." || w->text == ":/" || w->text == "*" || w->text == "./" || w->text == ":/*" || w->text == "-A";
  };
  if (sub == "reset") {
    if (has({"--hard"})) b.add(Outcome::Deny, "git.reset-hard", "git reset --hard discards uncommitted changes (including other agents' work in this tree)");
  } else if (sub == "clean") {
    if ((has({"--force"}) || short_flag('f')) && !has({"--dry-run"}) && !short_flag('n'))
      b.add(Outcome::Deny, "git.clean", "git clean -f deletes untracked files irrecoverably");
  } else if (sub == "push") {
    bool lease = has({"--force-with-lease", "--force-if-includes"});
    bool force = has({"--force", "--mirror"}) || short_flag('f');
    bool plus = false, del = has({"--delete", "--prune"}) || short_flag('d');
    for (const Word* w : operands()) {
      if (w->resolved && w->text.starts_with("+")) plus = true;
      if (w->resolved && w->text.starts_with(":") && w->text.size() > 1) del = true;
      if (!w->resolved) {
        bool git_only = w->has_subst && !w->subst_names.empty() &&
                        std::all_of(w->subst_names.begin(), w->subst_names.end(), [](const std::string& n) { return n == "git"; });
        if (!git_only && !w->text.starts_with("$") ) b.add(Outcome::Ask, "git.push-unresolved", "git push argument not known until run time (" + w->text + ")", true);
      }
    }
    if (force || plus) b.add(Outcome::Deny, "git.push-force", "git push --force rewrites shared history");
    else if (lease) b.add(Outcome::Ask, "git.push-force-with-lease", "git push --force-with-lease rewrites shared history");
    if (del) b.add(Outcome::Ask, "git.push-delete", "git push deletes a remote branch");
  } else if (sub == "checkout") {
    bool dd = has({"--"});
    auto ops = operands();
    bool all = std::any_of(ops.begin(), ops.end(), all_paths);
    // git checkout [<tree-ish>] <pathspec>... overwrites those files without "--" too. With -b,
    // -B or --orphan the operands are a branch name and its start point. Otherwise a second
    // operand, --ours/--theirs or --pathspec-from-file mean paths, and so does a single
    // operand that cannot be a ref name (git-check-ref-format(1): no trailing "/", no leading
    // "./" or "/", no glob characters or ":(" pathspec magic) or that names a source file.
    bool creates = has({"--orphan"}) || short_flag('b') || short_flag('B');
    bool paths = !creates && (ops.size() > 1 || has({"--ours", "--theirs", "--pathspec-from-file"}));
    if (!creates && ops.size() == 1) paths = paths || looks_like_pathspec(ops[0]->text);
    if (all) b.add(Outcome::Deny, "git.checkout-discard", "git checkout . discards every uncommitted change");
    else if ((dd && !ops.empty()) || paths)
      b.add(Outcome::Ask, "git.checkout-discard", "git checkout <path> discards uncommitted changes to those files");
    else if (has({"--force"}) || short_flag('f')) b.add(Outcome::Ask, "git.checkout-force", "git checkout --force discards local changes");
  } else if (sub == "restore") {
    bool staged = has({"--staged"}) || short_flag('S');
    bool worktree = has({"--worktree"}) || short_flag('W');
    if (!staged || worktree) {
      auto ops = operands();
      if (std::any_of(ops.begin(), ops.end(), all_paths))
        b.add(Outcome::Deny, "git.restore-discard", "git restore . discards every uncommitted change");
      else if (!ops.empty())
        b.add(Outcome::Ask, "git.restore-discard", "git restore <path> discards uncommitted changes to those files");
    }
  } else if (sub == "switch") {
    if (has({"--discard-changes", "--force"}) || short_flag('f'))
      b.add(Outcome::Ask, "git.switch-discard", "git switch --discard-changes throws away local changes");
  } else if (sub == "branch") {
    bool del = has({"--delete"}) || short_flag('d') || short_flag('D');
    bool force = has({"--force"}) || short_flag('D') || short_flag('f');
    if (del && force) b.add(Outcome::Ask, "git.branch-force-delete", "git branch -D deletes a branch even if it is not merged");
  } else if (sub == "stash") {
    if (a.size() > 2 && a[2].text == "clear") b.add(Outcome::Deny, "git.stash-clear", "git stash clear deletes every stash");
    else if (a.size() > 2 && a[2].text == "drop") b.add(Outcome::Ask, "git.stash-drop", "git stash drop deletes a stash");
  } else if (sub == "filter-branch" || sub == "filter-repo") {
    b.add(Outcome::Deny, "git.filter-branch", "git " + sub + " rewrites the whole history");
  } else if (sub == "reflog") {
    if (a.size() > 2 && (a[2].text == "expire" || a[2].text == "delete"))
      b.add(Outcome::Ask, "git.reflog-expire", "git reflog expire/delete removes the safety net for lost commits");
  } else if (sub == "gc") {
    for (std::size_t k = 2; k < a.size(); ++k)
      if (a[k].text == "--prune=now" || a[k].text == "--prune=all")
        b.add(Outcome::Ask, "git.gc-prune", "git gc --prune=now deletes unreachable commits immediately");
  } else if (sub == "update-ref") {
    if (has({"-d", "--delete"})) b.add(Outcome::Ask, "git.update-ref-delete", "git update-ref -d deletes a ref");
  } else if (sub == "rm") {
    bool cached = has({"--cached"});
    bool force = has({"--force"}) || short_flag('f');
    bool recursive = short_flag('r');
    auto ops = operands();
    if (!cached && recursive && std::any_of(ops.begin(), ops.end(), all_paths))
      b.add(force ? Outcome::Deny : Outcome::Ask, "git.rm-all", "git rm -r . deletes every tracked file from the working tree");
    else if (!cached && force)
      b.add(Outcome::Ask, "git.rm-force", "git rm -f deletes files together with their uncommitted changes");
  } else if (sub == "worktree") {
    if (a.size() > 2 && a[2].text == "remove" && (has({"--force"}) || short_flag('f')))
      b.add(Outcome::Ask, "git.worktree-remove-force", "git worktree remove --force deletes a worktree with changes");
  }
}

bool sql_destructive(std::string_view sql, std::string& what) {
  // Lower-cased, comments (/* */ and -- to the end of the line) as blanks, blanks folded.
  std::string s;
  for (std::size_t k = 0; k < sql.size(); ++k) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(sql[k])));
    if (l == '/' && k + 1 < sql.size() && sql[k + 1] == '*') {
      std::size_t e = sql.find("*/", k + 2);
      k = e == std::string_view::npos ? sql.size() : e + 1;
      l = ' ';
    } else if (l == '-' && k + 1 < sql.size() && sql[k + 1] == '-') {
      std::size_t e = sql.find('\n', k);
      k = e == std::string_view::npos ? sql.size() : e;
      l = ' ';
    }
    if (l == '\n' || l == '\t' || l == '\r') l = ' ';
    if (l == ' ' && !s.empty() && s.back() == ' ') continue;
    s += l;
  }
  // ALTER TABLE ... DROP [COLUMN|CONSTRAINT] x loses data too.
  for (std::size_t at = 0; (at = s.find("alter table", at)) != std::string::npos; at += 11) {
    std::size_t end = s.find(';', at);
    std::string_view stmt = std::string_view(s).substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (stmt.find(" drop ") != std::string_view::npos) {
      what = "alter table ... drop";
      return true;
    }
  }
  for (std::string_view kw : {"drop table", "drop database", "drop schema", "drop owned", "drop index", "drop view",
                               "drop materialized view", "drop function", "drop procedure", "drop trigger",
                               "drop sequence", "drop keyspace", "drop collection", "drop user", "drop role",
                               "drop extension", "drop type",
                               "truncate table", "truncate ", "flushall", "flushdb", "dropdatabase(", ".drop(", "deletemany({})",
                               "delete from"}) {
    std::size_t p = s.find(kw);
    if (p == std::string::npos) continue;
    if (kw[0] != '.' && p > 0 && (std::isalnum(static_cast<unsigned char>(s[p - 1])) || s[p - 1] == '_')) continue;
    if (kw == "delete from") {
      std::size_t end = s.find(';', p);
      std::string_view stmt = std::string_view(s).substr(p, end == std::string::npos ? std::string::npos : end - p);
      if (stmt.find(" where ") != std::string_view::npos) continue;
    }
    what = std::string(kw);
    while (!what.empty() && what.back() == ' ') what.pop_back();
    return true;
  }
  return false;
}

void check_db(const Command& c, Best& b) {
  const Args& a = c.argv;
  const std::string& n = c.name;
  std::string what;
  auto sql = [&](const Word& w, std::string_view how) {
    if (!w.resolved) {
      b.add(Outcome::Ask, "db.unresolved", n + " " + std::string(how) + " runs SQL not known until run time", true);
      return;
    }
    if (sql_destructive(w.text, what)) b.add(Outcome::Deny, "db.destructive", n + " runs destructive SQL (" + what + ")");
  };
  bool has_code = false;
  for (std::size_t k = 1; k < a.size(); ++k) {
    const std::string& t = a[k].text;
    if (n == "psql" || n == "cockroach" || n == "clickhouse-client") {
      if ((t == "-c" || t == "--command" || t == "-q" || t == "--query" || (n == "cockroach" && (t == "-e" || t == "--execute"))) &&
          k + 1 < a.size()) { sql(a[++k], "-c"); has_code = true; }
      else if (t.starts_with("--command=") || t.starts_with("--query=") || t.starts_with("--execute=")) { Word w = a[k]; w.text = t.substr(t.find('=') + 1); sql(w, "-c"); has_code = true; }
      else if ((t == "-f" || t == "--file") && k + 1 < a.size()) { b.add(Outcome::Ask, "db.script", n + " executes SQL from file " + a[k + 1].text); has_code = true; ++k; }
    } else if (n == "mysql" || n == "mariadb") {
      if ((t == "-e" || t == "--execute") && k + 1 < a.size()) { sql(a[++k], "-e"); has_code = true; }
      else if (t.starts_with("--execute=")) { Word w = a[k]; w.text = t.substr(10); sql(w, "-e"); has_code = true; }
      else if (t.starts_with("-e") && t.size() > 2) { Word w = a[k]; w.text = t.substr(2); sql(w, "-e"); has_code = true; }
    } else if (n == "sqlite3" || n == "duckdb" || n == "sqlite") {
      if (t.starts_with("-")) { if (t == "-cmd" || t == "-c") { if (k + 1 < a.size()) sql(a[++k], t); has_code = true; } continue; }
      if (k > 1 || !a[k].resolved) {
        if (a[k].resolved && a[k].text.starts_with(".read")) b.add(Outcome::Ask, "db.script", n + " executes SQL from a file (.read)");
        else sql(a[k], "");
        has_code = true;
      }
    } else if (n == "mongo" || n == "mongosh") {
      if (t == "--eval" && k + 1 < a.size()) { sql(a[++k], "--eval"); has_code = true; }
    } else if (n == "redis-cli" || n == "valkey-cli" || n == "keydb-cli") {
      std::string l = lower(t);
      if (l == "flushall" || l == "flushdb") b.add(Outcome::Deny, "db.destructive", n + " " + l + " erases the database");
      if (!t.starts_with("-")) has_code = true;
    }
  }
  if (n == "redis-cli" || n == "valkey-cli" || n == "keydb-cli") {
    // skip-through: option values may look like commands; only stdin matters below
  }
  if (!has_code && c.stdin_kind != StdinKind::Inherited) {
    if (c.stdin_known) {
      if (sql_destructive(c.stdin_text, what)) b.add(Outcome::Deny, "db.destructive", n + " reads destructive commands from its input (" + what + ")");
    } else {
      b.add(Outcome::Ask, "db.stdin", n + " executes commands from " + (c.stdin_kind == StdinKind::File ? "file " + c.stdin_text : std::string("a pipe")) + " whose content is not known", true);
    }
  }
}

void check_kill(const Command& c, Best& b) {
  const Args& a = c.argv;
  std::size_t k = 1;
  if (c.name == "kill") {
    if (k < a.size() && (a[k].text == "-s" || a[k].text == "-n")) k += 2;
    else if (k + 1 < a.size() && a[k].text.starts_with("-") && a[k].text != "--") ++k;  // -9, -KILL, -SIGKILL
    for (; k < a.size(); ++k) {
      if (a[k].text == "--") continue;
      if (a[k].text == "-1") b.add(Outcome::Deny, "sys.kill-all", "kill -1 signals every process you own");
    }
  } else if (c.name == "killall5") {
    b.add(Outcome::Deny, "sys.kill-all", "killall5 signals every process");
  } else if (c.name == "pkill" || c.name == "killall") {
    for (std::size_t j = 1; j < a.size(); ++j)
      if (a[j].text == "-u" || a[j].text == "--user") {
        if (j + 1 < a.size() && a.size() == j + 2) b.add(Outcome::Ask, "sys.kill-all", c.name + " -u signals every process of a user");
      }
    // A pattern that matches any name (pkill and killall -r take extended regular expressions):
    // pkill -f . signals every process of the user, the other agents and the shell included.
    bool regex = c.name == "pkill" || std::any_of(a.begin() + 1, a.end(), [](const Word& w) {
                   return w.text == "--regexp" || (is_option(w) && w.text[1] != '-' && has_short(w, 'r'));
                 });
    if (regex && a.size() > 1) {
      const Word& pat = a.back();
      if (pat.resolved && one_of(pat.text, {".", ".*", ".+", "^", "$", "^.*", "^.*$", "^.", "", "()"}))
        b.add(Outcome::Deny, "sys.kill-all", c.name + " " + (pat.text.empty() ? "''" : pat.text) + " matches every process");
    }
  }
}

// True for a chmod mode that removes the owner's read or write permission: a numeric mode whose
// owner digit lacks 4 or 2 (000, 444, 0500), or a symbolic clause for u/a/all that takes r or w
// away (a-r, u-w, -rw, go=,u=x). Masks (022), additions (u+x) and other-only clauses are fine.
bool locks_owner_out(std::string_view mode) {
  if (mode.empty()) return false;
  if (std::all_of(mode.begin(), mode.end(), [](char ch) { return ch >= '0' && ch <= '7'; })) {
    if (mode.size() < 3) return mode.size() <= 2 && mode.find_first_not_of('0') == std::string_view::npos;
    int owner = mode[mode.size() - 3] - '0';
    return (owner & 6) != 6;
  }
  std::size_t start = 0;
  while (start <= mode.size()) {
    std::size_t end = mode.find(',', start);
    std::string_view clause = mode.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t op = clause.find_first_of("+-=");
    if (op != std::string_view::npos) {
      std::string_view who = clause.substr(0, op);
      bool owner = who.empty() || who.find_first_of("ua") != std::string_view::npos;
      std::string_view perms = clause.substr(op + 1);
      if (owner && clause[op] == '-' && perms.find_first_of("rw") != std::string_view::npos) return true;
      if (owner && clause[op] == '=' && (perms.find('r') == std::string_view::npos || perms.find('w') == std::string_view::npos))
        return true;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return false;
}

void check_chmod(const Command& c, const CatalogOptions& o, Best& b) {
  bool rec = false;
  std::string mode;
  std::vector<const Word*> targets;
  for (std::size_t k = 1; k < c.argv.size(); ++k) {
    const Word& w = c.argv[k];
    if (w.text == "--recursive" || (is_option(w) && w.text[1] != '-' && has_short(w, 'R'))) {
      rec = true;
      continue;
    }
    if (is_option(w) && !(c.name == "chmod" && (w.text[1] == 'w' || w.text[1] == 'r' || w.text[1] == 'x'))) continue;
    if (mode.empty() && c.name != "chown" && c.name != "chgrp") {
      mode = w.text;
      continue;
    }
    if (mode.empty()) {
      mode = w.text;  // owner
      continue;
    }
    targets.push_back(&w);
  }
  bool wide = mode == "777" || mode == "0777" || mode == "666" || mode == "a+rwx" || mode == "o+w" || mode == "a+w" || mode == "ugo+rwx";
  for (const Word* w : targets) {
    Target t = classify(*w, o);
    std::string what = c.name + (rec ? " -R " : " ") + mode + " on " + target_desc(t) + " (" + w->text + ")";
    if (t == Target::Root || (rec && (t == Target::Home || t == Target::System || t == Target::Parent)))
      b.add(Outcome::Deny, "perm.recursive-system", what);
    else if ((t == Target::System || t == Target::Home) && (wide || c.name != "chmod"))
      b.add(Outcome::Ask, "perm.system", what);
    else if (rec && wide)
      b.add(Outcome::Ask, "perm.world-writable", what);
    else if (rec && c.name == "chmod" && t != Target::Tmp && t != Target::Artifact && locks_owner_out(mode))
      b.add(Outcome::Ask, "perm.lockout", what + " takes read or write access away from the owner");
    else if (rec && t == Target::Unresolved)
      b.add(Outcome::Ask, "perm.unresolved", what, true);
  }
}

// Readers expose a file's content to the model (or ship it elsewhere).
bool is_reader(std::string_view n) {
  return one_of(n, {"cat", "less", "more", "head", "tail", "bat", "batcat", "nl", "strings", "xxd", "od", "hexdump",
                    "base64", "grep", "egrep", "fgrep", "rg", "ag", "ack", "awk", "gawk", "sed", "cut", "sort", "uniq",
                    "tac", "cp", "scp", "rsync", "jq", "yq", "openssl", "view", "diff", "cmp", "paste", "tee", "dd",
                    "gpg", "zip", "tar", "nc", "netcat", "column", "fold", "pr", "wc", "type", "Get-Content", "gc",
                    "python", "python3", "node", "bash", "sh", "xclip", "pbcopy", "mail", "sendmail", "curl", "wget",
                    "http", "strings", "vim", "vi", "nano", "emacs", "code", "subl", "split", "iconv", "md5sum",
                    "perl", "ruby", "php", "base32", "basenc", "zcat", "bzcat", "xzcat", "zstdcat", "gzip", "bzip2",
                    "xz", "zstd", "rev", "expand", "unexpand", "fmt", "look", "comm", "join", "csplit", "sha256sum",
                    "sha1sum", "cksum", "sum", "envsubst", "lua", "luajit", "rscript", "awk", "gawk", "mawk"});
}

// Names a glob could match that hold secrets: only globs with a literal part are judged (cat *
// matches no dotfile, and judging bare wildcards would block every `grep -r x *`).
int secret_glob_level(std::string_view pattern) {
  std::string b = base(pattern);
  if (b.find_first_not_of("*?[]") == std::string::npos) return 0;
  static constexpr std::string_view kSamples[] = {
      ".env", ".env.local", ".env.production", "prod.env", "id_rsa", "id_ed25519", "id_ecdsa", ".netrc",
      ".git-credentials", ".pgpass", "master.key", ".vault-token", "server.key", "server.pem", "secrets.json",
      "secrets.yaml", "credentials.json", ".npmrc", ".pypirc"};
  int lvl = 0;
  for (auto sample : kSamples)
    if (glob_match(b, sample, true)) lvl = std::max(lvl, secret_level(sample) == 2 ? 1 : secret_level(sample));
  return lvl;  // a glob might match: ask, never deny
}

void check_secrets_shell(const Command& c, Best& b) {
  bool reader = is_reader(c.name) || c.name == "source" || c.name == ".";
  if (c.name == "source" || c.name == ".") reader = false;  // loading .env into the shell does not print it
  auto consider = [&](const std::string& path, bool via_redirect, bool glob = false) {
    int lvl = glob ? std::max(secret_level(path), secret_glob_level(path)) : secret_level(path);
    if (lvl == 0) return;
    if (!reader && !via_redirect) return;
    std::string what = c.name + " reads " + path + ", which holds secrets";
    b.add(lvl == 2 ? Outcome::Deny : Outcome::Ask, "secrets.read", what);
  };
  // cp .env.example .env writes the secret file, it does not read it: copy commands' last
  // operand is their destination.
  std::size_t end = c.argv.size();
  if (one_of(c.name, {"cp", "scp", "rsync"}) && end > 2 && !c.argv.back().text.starts_with("-")) --end;
  for (std::size_t k = 1; k < end; ++k) {
    std::string t = c.argv[k].text;
    std::size_t at = t.find('@');  // curl -d @file, -F x=@file
    if ((c.name == "curl" || c.name == "http") && at != std::string::npos) t = t.substr(at + 1);
    if (t.starts_with("-") && t.find('=') != std::string::npos) t = t.substr(t.find('=') + 1);  // --in=file
    consider(t, false, c.argv[k].glob);
  }
  for (const Redirect& r : c.redirects)
    if (r.op == "<" && (r.fd <= 0)) consider(r.target.text, true, r.target.glob);
}

// An input redirect with no command of its own feeds a group, a loop or $(<file), all of which
// can print what they read: { cat; } < .env, while read l; ... done < .env, "$(<.env)".
void check_bare_input_redirects(const Command& c, Best& b) {
  for (const Redirect& r : c.redirects) {
    if (r.op != "<" || r.fd > 0) continue;
    int lvl = secret_level(r.target.text);
    if (lvl > 0)
      b.add(lvl == 2 ? Outcome::Deny : Outcome::Ask, "secrets.read", "the shell reads " + r.target.text + ", which holds secrets");
  }
}


// Files whose overwrite breaks the machine, the user's shell or the repository: asked.
bool important_file(const std::string& p, const CatalogOptions& o) {
  std::string home = o.home.empty() ? std::string() : normalise(o.home);
  std::string h = p;
  // (append, not "~" + substr: GCC 12 -O3 reports a false -Wrestrict on the latter)
  if (!home.empty() && h.starts_with(home + "/")) h = std::string("~").append(h, home.size());
  static constexpr std::string_view kImportant[] = {
      "/etc/**", "~/.bashrc", "~/.zshrc", "~/.profile", "~/.bash_profile", "~/.zprofile", "~/.zshenv",
      "~/.bash_login", "~/.ssh/**", "~/.gitconfig", "~/.config/fish/config.fish", "**/.git/config",
      "**/.git/HEAD", "**/.git/index", "**/.git/hooks/**", ".git/config", ".git/HEAD", ".git/index",
      ".git/hooks/**", "/usr/**", "/boot/**", "/var/lib/**", "~/.aws/**", "~/.kube/**", "/System/**", "/Library/**"};
  for (auto pat : kImportant)
    if (glob_match(pat, h, true)) return true;
  return false;
}

void check_redirects(const Command& c, const CatalogOptions& o, Best& b) {
  for (const Redirect& r : c.redirects) {
    if (!r.writes()) continue;
    const Word& t = r.target;
    std::string p = normalise(t.text);
    if (is_device(p)) {
      b.add(Outcome::Deny, "disk.device-write", "redirect overwrites block device " + p);
      continue;
    }
    if (!t.resolved) continue;  // > "$LOG" is common and only creates/truncates a file
    if (is_hook_config_path(p)) {
      b.add(Outcome::Ask, "hooks.config", "writes agent hook or keel configuration (" + p + ")");
      continue;
    }
    if (important_file(p, o)) b.add(Outcome::Ask, "fs.overwrite-important", "redirect writes to " + p);
  }
}

// Writes through a command's own arguments: tee FILE, cp/mv/install/ln ... DEST, dd of=FILE.
void check_write_targets(const Command& c, const CatalogOptions& o, Best& b) {
  const Args& a = c.argv;
  std::vector<const Word*> dests;
  if (c.name == "tee") {
    for (std::size_t k = 1; k < a.size(); ++k)
      if (!a[k].text.starts_with("-")) dests.push_back(&a[k]);
  } else if (one_of(c.name, {"cp", "mv", "install", "ln", "rsync", "scp"}) && a.size() > 2) {
    dests.push_back(&a.back());
  }
  for (const Word* w : dests) {
    if (!w->resolved) continue;
    std::string p = normalise(w->text);
    if (important_file(p, o)) b.add(Outcome::Ask, "fs.overwrite-important", c.name + " writes to " + p);
  }
}

void check_disk(const Command& c, const CatalogOptions& o, Best& b) {
  const std::string& n = c.name;
  const Args& a = c.argv;
  if (n.starts_with("mkfs") || one_of(n, {"mke2fs", "mkswap", "newfs", "wipefs", "mkdosfs", "mkntfs", "format"})) {
    b.add(Outcome::Deny, "disk.mkfs", n + " formats a filesystem");
    return;
  }
  if (one_of(n, {"fdisk", "sfdisk", "gdisk", "sgdisk", "cfdisk", "parted", "blkdiscard", "cryptsetup"})) {
    bool list_only = std::any_of(a.begin() + 1, a.end(), [](const Word& w) {
      return w.text == "-l" || w.text == "--list" || w.text == "print" || w.text == "-p" || w.text == "--print";
    });
    if (!list_only) b.add(Outcome::Deny, "disk.partition", n + " modifies disk partitions");
    return;
  }
  if (n == "diskutil") {
    for (const Word& w : a)
      if (lower(w.text).starts_with("erase") || lower(w.text) == "zerodisk" || lower(w.text) == "partitiondisk" ||
          lower(w.text) == "randomdisk" || lower(w.text) == "secureerase")
        b.add(Outcome::Deny, "disk.partition", "diskutil " + w.text + " erases a disk");
    return;
  }
  if (n == "dd") {
    for (const Word& w : a) {
      if (!w.text.starts_with("of=")) continue;
      std::string target = w.text.substr(3);
      if (!w.resolved) b.add(Outcome::Ask, "disk.dd-unresolved", "dd writes to a target not known until run time (" + target + ")", true);
      else if (is_device(target)) b.add(Outcome::Deny, "disk.dd-device", "dd overwrites block device " + target);
      else if (is_hook_config_path(normalise(target)))
        b.add(Outcome::Ask, "hooks.config", "dd overwrites agent hook or keel configuration (" + target + ")");
      else if (important_file(normalise(target), o))
        b.add(Outcome::Ask, "fs.overwrite-important", "dd overwrites " + target);
      else {
        Word tw = w;
        tw.text = target;
        Target t = classify(tw, o);
        if (t == Target::System || t == Target::Root) b.add(Outcome::Ask, "disk.dd-system", "dd overwrites " + target);
      }
    }
    return;
  }
  if (n == "shred" || n == "srm" || n == "wipe") {
    bool dev = false;
    for (std::size_t k = 1; k < a.size(); ++k) dev = dev || is_device(a[k].text);
    if (dev) b.add(Outcome::Deny, "disk.shred-device", n + " destroys the content of a device");
    else b.add(Outcome::Ask, "fs.shred", n + " destroys file content irrecoverably");
    return;
  }
  if (one_of(n, {"cp", "tee", "cat", "pv", "mv", "install"})) {
    for (std::size_t k = 1; k < a.size(); ++k)
      if (is_device(normalise(a[k].text)) && (n == "tee" || k + 1 == a.size()))
        b.add(Outcome::Deny, "disk.device-write", n + " overwrites block device " + a[k].text);
  }
}

void check_misc(const Command& c, const CatalogOptions& o, Best& b) {
  const std::string& n = c.name;
  const Args& a = c.argv;
  if (one_of(n, {"shutdown", "reboot", "halt", "poweroff"})) {
    bool cancel = std::any_of(a.begin() + 1, a.end(), [](const Word& w) { return w.text == "-c" || w.text == "--help"; });
    if (!cancel) b.add(Outcome::Deny, "sys.shutdown", n + " stops or restarts the machine");
  } else if (n == "init" || n == "telinit") {
    if (a.size() > 1 && (a[1].text == "0" || a[1].text == "6")) b.add(Outcome::Deny, "sys.shutdown", n + " " + a[1].text + " stops or restarts the machine");
  } else if (n == "systemctl") {
    for (const Word& w : a)
      if (one_of(w.text, {"poweroff", "reboot", "halt", "kexec", "emergency", "rescue"}))
        b.add(Outcome::Deny, "sys.shutdown", "systemctl " + w.text + " stops or restarts the machine");
  } else if (n == "find") {
    bool del = false;
    for (const Word& w : a) del = del || w.text == "-delete";
    if (del) {
      Target worst = Target::Other;
      bool any_path = false;
      for (std::size_t k = 1; k < a.size() && !(a[k].text.starts_with("-") || a[k].text == "(" || a[k].text == "!"); ++k) {
        any_path = true;
        Target t = classify(a[k], o);
        if (t == Target::Root || t == Target::Home || t == Target::System || t == Target::Parent) worst = t;
      }
      (void)any_path;
      if (worst != Target::Other)
        b.add(Outcome::Deny, "find.delete", std::string("find -delete under ") + target_desc(worst));
      else
        b.add(Outcome::Ask, "find.delete", "find -delete removes every matching file");
    }
  } else if (n == "rsync") {
    bool del = std::any_of(a.begin() + 1, a.end(), [](const Word& w) {
      return w.text.starts_with("--delete") || w.text == "--del" || w.text == "--remove-source-files";
    });
    if (del && a.size() > 1) {
      Target t = classify(a.back(), o);
      if (t == Target::Root || t == Target::Home || t == Target::System || t == Target::Wildcard)
        b.add(Outcome::Deny, "rsync.delete", std::string("rsync --delete into ") + target_desc(t) + " (" + a.back().text + ")");
      else
        b.add(Outcome::Ask, "rsync.delete", "rsync --delete removes files in " + a.back().text + " that are not in the source");
    }
  } else if (n == "mv") {
    // Moving a directory away deletes it from where everything expects it.
    std::vector<const Word*> ops;
    bool ended = false;
    for (std::size_t k = 1; k < a.size(); ++k) {
      if (!ended && a[k].resolved && a[k].text == "--") {
        ended = true;
        continue;
      }
      if (!ended && is_option(a[k])) {
        if (a[k].text == "-t" || a[k].text == "--target-directory") ++k;  // the destination
        continue;
      }
      ops.push_back(&a[k]);
    }
    for (std::size_t k = 0; k + 1 < ops.size(); ++k) {
      Target t = classify(*ops[k], o);
      // (mv * subdir/ is ordinary: the wildcard moves files within the working directory)
      if (t == Target::Root || t == Target::Home || t == Target::System)
        b.add(Outcome::Deny, "fs.move-system", std::string("mv moves ") + target_desc(t) + " away (" + ops[k]->text + ")");
    }
  } else if (n == "truncate") {
    bool zero = false;
    for (std::size_t k = 1; k < a.size(); ++k) {
      const std::string& t = a[k].text;
      if (((t == "-s" || t == "--size") && k + 1 < a.size() && (a[k + 1].text == "0" || a[k + 1].text == "0K")) ||
          t == "-s0" || t == "--size=0")
        zero = true;
    }
    if (zero) b.add(Outcome::Ask, "fs.truncate", "truncate -s 0 empties files");
  } else if (n == "terraform" || n == "tofu" || n == "pulumi") {
    for (const Word& w : a)
      if (w.text == "destroy" || w.text == "-destroy") b.add(Outcome::Ask, "cloud.destroy", n + " destroy deletes infrastructure");
  } else if (n == "kubectl" || n == "oc") {
    if (a.size() > 1 && a[1].text == "delete") {
      bool broad = std::any_of(a.begin() + 2, a.end(), [](const Word& w) {
        return w.text == "--all" || w.text == "ns" || w.text == "namespace" || w.text == "namespaces" || w.text == "-A" || w.text == "--all-namespaces";
      });
      b.add(broad ? Outcome::Deny : Outcome::Ask, "cloud.kubectl-delete", "kubectl delete removes cluster resources");
    }
  } else if (n == "docker" || n == "podman") {
    if (a.size() > 2 && (a[1].text == "system" || a[1].text == "volume" || a[1].text == "image") && a[2].text == "prune")
      b.add(Outcome::Ask, "docker.prune", n + " " + a[1].text + " prune deletes data");
    if (a.size() > 2 && a[1].text == "volume" && (a[2].text == "rm" || a[2].text == "remove"))
      b.add(Outcome::Ask, "docker.prune", n + " volume rm deletes data");
  } else if (n == "aws") {
    bool rec = std::any_of(a.begin(), a.end(), [](const Word& w) { return w.text == "--recursive" || w.text == "--force"; });
    if (a.size() > 2 && a[1].text == "s3" && (a[2].text == "rb" || (a[2].text == "rm" && rec)))
      b.add(Outcome::Ask, "cloud.s3-delete", "aws s3 deletes a bucket or many objects");
  } else if (n == "dropdb" || n == "dropuser") {
    b.add(Outcome::Deny, "db.destructive", n + " deletes a database object");
  } else if (n == "mysqladmin") {
    for (const Word& w : a)
      if (w.text == "drop") b.add(Outcome::Deny, "db.destructive", "mysqladmin drop deletes a database");
  } else if (n == "crontab") {
    for (const Word& w : a)
      if (w.text == "-r") b.add(Outcome::Ask, "sys.crontab-remove", "crontab -r removes every cron job");
  } else if (n == "sed" || n == "perl") {
    bool inplace = std::any_of(a.begin() + 1, a.end(), [](const Word& w) { return w.text.starts_with("-i") || w.text == "--in-place" || (w.text.starts_with("-") && w.text.find('i') != std::string::npos && w.text[1] != '-'); });
    if (inplace)
      for (std::size_t k = 1; k < a.size(); ++k)
        if (is_hook_config_path(normalise(a[k].text))) b.add(Outcome::Ask, "hooks.config", n + " -i edits agent hook or keel configuration (" + a[k].text + ")");
  }
  if (one_of(n, {"rm", "mv", "cp", "tee", "truncate", "ln", "install", "unlink", "shred", "chmod", "chown"})) {
    for (std::size_t k = 1; k < a.size(); ++k) {
      if (!a[k].resolved || a[k].text.starts_with("-")) continue;
      bool dest_only = n == "cp" || n == "install" || n == "ln";
      if (dest_only && k + 1 != a.size()) continue;
      if (is_hook_config_path(normalise(a[k].text)))
        b.add(Outcome::Ask, "hooks.config", n + " modifies agent hook or keel configuration (" + a[k].text + ")");
    }
  }
}

}  // namespace

int secret_level(std::string_view path) {
  std::string p = normalise(path);
  std::string b = base(p);
  std::string bl = lower(b);
  if (bl == ".env" || bl == ".envrc") return bl == ".env" ? 2 : 0;
  if (bl.starts_with(".env.")) {
    std::string_view suf = std::string_view(bl).substr(5);
    if (one_of(suf, {"example", "sample", "template", "dist", "defaults", "default", "schema", "tmpl", "example.local"}))
      return 0;
    return 2;
  }
  if (bl.ends_with(".env") && bl.size() > 4) {
    std::string stem = bl.substr(0, bl.size() - 4);
    if (stem == "example" || stem == "sample" || stem == "template" || stem == "test") return 0;
    return 2;  // prod.env, secrets.env
  }
  if (one_of(bl, {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity"})) return 2;
  if (one_of(bl, {".netrc", "_netrc", ".git-credentials", ".pgpass", ".my.cnf", "master.key", ".vault-token", "shadow",
                  "gshadow", "credentials.db", "access_tokens.db", ".htpasswd"}))
    return bl == ".htpasswd" ? 1 : (bl == "shadow" || bl == "gshadow") ? (p.starts_with("/etc/") ? 2 : 0) : 2;
  if (p.find("/.ssh/") != std::string::npos || p.starts_with(".ssh/") || p.starts_with("~/.ssh")) {
    if (bl.ends_with(".pub") || one_of(bl, {"known_hosts", "config", "authorized_keys", "known_hosts.old", ".ssh"})) return 0;
    return 2;
  }
  if (p.find(".aws/credentials") != std::string::npos || p.find(".gnupg/") != std::string::npos ||
      p.find("gcloud/application_default_credentials.json") != std::string::npos ||
      p.find("gcloud/credentials.db") != std::string::npos || p.find(".azure/accessTokens") != std::string::npos)
    return 2;
  if (bl.ends_with(".pem") || bl.ends_with(".key") || bl.ends_with(".p12") || bl.ends_with(".pfx") ||
      bl.ends_with(".keystore") || bl.ends_with(".jks") || bl.ends_with(".ppk") || bl.ends_with(".asc"))
    return 1;
  if (one_of(bl, {"secrets.yml", "secrets.yaml", "secrets.json", "secrets.toml", ".npmrc", ".pypirc", "credentials.json",
                  "credentials", "client_secret.json", "service-account.json", "terraform.tfstate", ".dockercfg"}))
    return 1;
  if (p.find(".docker/config.json") != std::string::npos || p.find(".kube/config") != std::string::npos) return 1;
  if (bl.starts_with("service-account") && bl.ends_with(".json")) return 1;
  return 0;
}

bool is_hook_config_path(std::string_view path) {
  std::string p = normalise(path);
  static constexpr std::string_view kPats[] = {
      "**/.claude/settings.json", "**/.claude/settings.local.json", "**/.claude/hooks/**",
      "**/.codex/hooks.json",     "**/.codex/config.toml",          "**/.gemini/settings.json",
      "**/.cursor/hooks.json",    "**/.github/hooks/*.json",        "**/.windsurf/hooks.json",
      "**/.codeium/windsurf/hooks.json", "**/.clinerules/hooks/**", "**/Cline/Hooks/**",
      "**/keel.jsonc",            "**/.keel/**",                    "/etc/cursor/hooks.json",
      "/etc/windsurf/hooks.json", "**/.kiro/hooks/**",              "**/managed-settings.json",
      // the directories holding them, and the keel binary itself (a deleted hook binary exits
      // 127, which every agent but Cline treats as "proceed")
      "**/.claude", "**/.claude/hooks", "**/.codex", "**/.gemini", "**/.cursor", "**/.windsurf",
      "**/.codeium/windsurf", "**/.clinerules/hooks", "**/.clinerules", "**/.github/hooks", "**/.kiro/hooks",
      "**/.keel", "**/bin/keel"};
  std::string q = p.starts_with("/") || p.starts_with("~") ? p : "./" + p;
  for (auto pat : kPats)
    if (glob_match(pat, q, true) || glob_match(pat, p, true)) return true;
  return false;
}

std::optional<CatalogHit> check_command(const Script& script, int ci, const CatalogOptions& o) {
  if (ci < 0 || ci >= static_cast<int>(script.commands.size())) return std::nullopt;
  const Command& c = script.commands[static_cast<std::size_t>(ci)];
  Best b;
  check_redirects(c, o, b);
  if (c.argv.empty()) {
    check_bare_input_redirects(c, b);
    return b.hit;
  }
  if (c.unresolved_name) {
    const Word& w0 = c.argv[0];
    bool fetch = false, decode = false;
    for (const auto& n : w0.subst_names) {
      if (one_of(n, {"curl", "wget", "nc", "ncat", "fetch", "http"})) fetch = true;
      if (one_of(n, {"base64", "base32", "xxd", "openssl", "tr", "rev", "gunzip", "zcat", "printf", "uudecode"})) decode = true;
    }
    if (fetch || decode)
      b.add(Outcome::Deny, fetch ? "cmd.remote" : "cmd.encoded",
            std::string("the command name is produced at run time by ") + (fetch ? "a download" : "a decoder") + " (" + w0.text + ")");
    else if (w0.non_ascii)
      b.add(Outcome::Ask, "cmd.non-ascii", "the command name contains non-ASCII characters (" + w0.text + ")", true);
    else
      b.add(Outcome::Ask, "cmd.unresolved", "the command name is not known until run time (" + w0.text + ")", true);
    return b.hit;
  }
  const std::string& n = c.name;
  if (n == "rm" || n == "rimraf" || n == "unlink" || n == "del") check_rm(c, o, b);
  else if (n == "git") check_git(c, b);
  else if (one_of(n, {"psql", "mysql", "mariadb", "sqlite3", "sqlite", "duckdb", "mongo", "mongosh", "redis-cli",
                      "valkey-cli", "keydb-cli", "cockroach", "clickhouse-client"}))
    check_db(c, b);
  else if (one_of(n, {"kill", "pkill", "killall", "killall5"})) check_kill(c, b);
  else if (one_of(n, {"chmod", "chown", "chgrp"})) check_chmod(c, o, b);
  check_disk(c, o, b);
  check_misc(c, o, b);
  check_write_targets(c, o, b);
  check_secrets_shell(c, b);
  return b.hit;
}

std::optional<CatalogHit> check_finding(const Finding& f) {
  switch (f.kind) {
    case FindingKind::RemoteCode:
      return CatalogHit{Outcome::Deny, "net.pipe-to-shell", f.detail, false};
    case FindingKind::EncodedCode:
      return CatalogHit{Outcome::Deny, "code.encoded", f.detail, false};
    case FindingKind::ForkBomb:
      return CatalogHit{Outcome::Deny, "sys.fork-bomb", f.detail, false};
    case FindingKind::DynamicCode:
    case FindingKind::StdinCode:
    case FindingKind::DynamicShellout:
      return CatalogHit{Outcome::Ask, "code.dynamic", f.detail, true};
    case FindingKind::WriteThenRun:
      return CatalogHit{Outcome::Ask, "code.write-then-run", f.detail, true};
    case FindingKind::ParseError:
    case FindingKind::TooDeep:
    case FindingKind::TooLarge:
      return CatalogHit{Outcome::Ask, "parse.incomplete", "the command could not be fully analysed: " + f.detail, true};
  }
  return std::nullopt;
}

std::optional<CatalogHit> check_path(std::string_view path, PathAccess access, const CatalogOptions& o) {
  std::string p = normalise(path);
  if (!o.home.empty()) {
    std::string h = normalise(o.home);
    if (p == h || p.starts_with(h + "/")) p = std::string("~").append(p, h.size());
  }
  if (access == PathAccess::Read) {
    int lvl = secret_level(p);
    if (lvl > 0)
      return CatalogHit{lvl == 2 ? Outcome::Deny : Outcome::Ask, "secrets.read", "reading " + std::string(path) + " would expose secrets", false};
    return std::nullopt;
  }
  if (is_hook_config_path(p))
    return CatalogHit{Outcome::Ask, "hooks.config", "modifies agent hook or keel configuration (" + std::string(path) + ")", false};
  if (is_device(p)) return CatalogHit{Outcome::Deny, "disk.device-write", "writes block device " + p, false};
  if (access == PathAccess::Delete) {
    Word w;
    w.text = p;
    Target t = classify(w, o);
    if (t == Target::Root || t == Target::Home || t == Target::System || t == Target::Wildcard)
      return CatalogHit{Outcome::Deny, "rm.system", std::string("deletes ") + target_desc(t) + " (" + p + ")", false};
  }
  static constexpr std::string_view kImportant[] = {"/etc/**", "~/.ssh/**", "~/.bashrc", "~/.zshrc", "~/.profile",
                                                    "**/.git/config", "**/.git/hooks/**", "/usr/**", "~/.aws/**"};
  for (auto pat : kImportant)
    if (glob_match(pat, p, true))
      return CatalogHit{Outcome::Ask, "fs.overwrite-important", "writes " + std::string(path), false};
  return std::nullopt;
}

}  // namespace keel::hooks
