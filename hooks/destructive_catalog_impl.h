// destructive_catalog_impl.h — what the catalog's files share: the most-severe-hit collector,
// option tests, path classification and the per-family checks. Not a public API.
#pragma once

#include "hooks/destructive_catalog.h"
#include "hooks/glob.h"
#include "hooks/text.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::hooks::catalog {

using Args = std::vector<Word>;
using text::lower;

inline bool one_of(std::string_view x, std::initializer_list<std::string_view> l) {
  return std::find(l.begin(), l.end(), x) != l.end();
}

struct Best {
  std::optional<CatalogHit> hit;
  void add(Outcome o, std::string_view id, std::string reason, bool unresolved = false) {
    if (hit && severity(hit->outcome) >= severity(o)) return;
    hit = CatalogHit{o, std::string(id), std::move(reason), unresolved};
  }
};

// Short option bundle test: -rf contains 'r'. Long options are compared whole.
inline bool has_short(const Word& w, char c) {
  const std::string& t = w.text;
  return t.size() >= 2 && t[0] == '-' && t[1] != '-' && t.find(c, 1) != std::string::npos;
}

inline bool is_option(const Word& w) { return w.resolved && w.text.size() > 1 && w.text[0] == '-'; }

// The last path component ("a/b/" → "b").
std::string base(std::string_view s);

// catalog_paths.cpp
enum class Target { Root, Home, Parent, Wildcard, System, Tmp, Artifact, Other, Unresolved };
const char* target_desc(Target t);
std::string normalise(std::string_view in);
Target classify(const Word& w, const CatalogOptions& o);
bool is_device(std::string_view p);

// The checks by family: each adds its hits to `b`, which keeps the most severe.
// catalog_files.cpp
void check_rm(const Command& c, const CatalogOptions& o, Best& b);
void check_chmod(const Command& c, const CatalogOptions& o, Best& b);
void check_secrets_shell(const Command& c, Best& b);
void check_bare_input_redirects(const Command& c, Best& b);
bool important_file(const std::string& p, const CatalogOptions& o);
void check_redirects(const Command& c, const CatalogOptions& o, Best& b);
void check_write_targets(const Command& c, const CatalogOptions& o, Best& b);
// catalog_git.cpp
void check_git(const Command& c, const CatalogOptions& o, Best& b);  // may stat(2) under o.cwd
void check_bare_output_redirects(const Command& c, Best& b);
// catalog_publish.cpp
void check_publish(const Command& c, Best& b);
void check_docker_bulk(const Command& c, Best& b);
// catalog_system.cpp
void check_db(const Command& c, Best& b);
void check_kill(const Command& c, Best& b);
void check_disk(const Command& c, const CatalogOptions& o, Best& b);
void check_misc(const Command& c, const CatalogOptions& o, Best& b);

}  // namespace keel::hooks::catalog
