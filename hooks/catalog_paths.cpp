// catalog_paths.cpp — what a path operand names for the catalog: root, home, a parent of the
// working directory, a wildcard, a system or temporary directory, a build artifact, a device.
#include "hooks/destructive_catalog_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks::catalog {

std::string base(std::string_view s) {
  while (s.size() > 1 && s.back() == '/') s.remove_suffix(1);
  std::size_t p = s.find_last_of('/');
  return std::string(p == std::string_view::npos ? s : s.substr(p + 1));
}


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
  std::string s = text::slash_path(in);
  while (s.size() > 2 && s.ends_with("/.")) s.resize(s.size() - 2);
  while (s.starts_with("./") && s.size() > 2) s.erase(0, 2);
  return s;
}

namespace {
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
}  // namespace

namespace {
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
}  // namespace

namespace {
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
}  // namespace

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

}  // namespace keel::hooks::catalog
