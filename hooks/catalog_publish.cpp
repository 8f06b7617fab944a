// catalog_publish.cpp — catalog rules for actions that leave the machine for good or sweep a
// whole class of resources: package publication (npm/yarn/pnpm/bun publish, cargo publish,
// twine upload, gem push, poetry/uv publish) and docker's bulk removals
// (docker rm -f $(docker ps -aq)).
#include "hooks/destructive_catalog_impl.h"

#include <algorithm>

namespace keel::hooks::catalog {

namespace {
bool any_arg(const Args& a, std::initializer_list<std::string_view> opts) {
  return std::any_of(a.begin() + 1, a.end(), [&](const Word& w) {
    for (auto o : opts)
      if (w.text == o || (o.starts_with("--") && w.text.starts_with(std::string(o) + "="))) return true;
    return false;
  });
}
}  // namespace

// A published version cannot be taken back (crates.io and PyPI never reuse a version, npm
// unpublishes only within 72 hours), yet releasing is often exactly what the person wants:
// asked. Dry runs are allowed.
void check_publish(const Command& c, Best& b) {
  const Args& a = c.argv;
  const std::string& n = c.name;
  if (a.size() < 2 || !a[1].resolved) return;
  const std::string& sub = a[1].text;
  bool publish = false;
  if (one_of(n, {"npm", "pnpm", "bun"}) && sub == "publish") publish = true;
  else if (n == "yarn" && (sub == "publish" || (sub == "npm" && a.size() > 2 && a[2].text == "publish"))) publish = true;
  else if (n == "cargo" && sub == "publish") publish = true;
  else if (n == "twine" && sub == "upload") publish = true;
  else if (n == "gem" && sub == "push") publish = true;
  else if (one_of(n, {"poetry", "uv", "hatch", "flit", "pdm"}) && sub == "publish") publish = true;
  if (!publish) return;
  if (any_arg(a, {"--dry-run", "-n"}) && n != "twine" && n != "gem") return;
  if (n == "poetry" && any_arg(a, {"--dry-run"})) return;
  b.add(Outcome::Ask, "pkg.publish", n + " " + sub + " publishes a release to a public registry, for good");
}

// docker/podman rm|rmi|kill|volume rm fed by a listing of their own ($(docker ps -aq)):
// every container, image or volume on the machine, the user's and other agents' too. Forced
// or volumes: denied; otherwise (running containers survive a plain rm) or filtered: asked.
void check_docker_bulk(const Command& c, Best& b) {
  const Args& a = c.argv;
  const std::string& n = c.name;
  if ((n != "docker" && n != "podman") || a.size() < 3) return;
  std::size_t k = 1;
  std::string kind = "container";
  if (one_of(a[1].text, {"container", "image", "volume", "network"})) {
    kind = a[1].text;
    k = 2;
  }
  const std::string& verb = a[k].text;
  if (!one_of(verb, {"rm", "rmi", "remove", "kill"})) return;
  if (verb == "rmi") kind = "image";
  bool bulk = false, filtered = false;
  for (std::size_t j = k + 1; j < a.size(); ++j) {
    const Word& w = a[j];
    if (!w.has_subst) continue;
    if (std::none_of(w.subst_names.begin(), w.subst_names.end(), [](const std::string& s) { return s == "docker" || s == "podman"; }))
      continue;
    bulk = true;
    if (w.subst_source.find("filter") != std::string::npos || w.subst_source.find("grep") != std::string::npos) filtered = true;
  }
  if (!bulk) return;
  bool force = any_arg(a, {"-f", "--force", "-fv", "-vf"});
  const std::string what = n + " " + verb + " of every " + kind + " a listing returns";
  if (!filtered && (force || kind == "volume" || verb == "kill"))
    b.add(Outcome::Deny, "docker.rm-all", what + " (the user's and other agents' too; volumes hold data)");
  else b.add(Outcome::Ask, "docker.rm-all", what);
}

}  // namespace keel::hooks::catalog
