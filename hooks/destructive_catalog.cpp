// destructive_catalog.cpp — the catalog's entry points (destructive_catalog.h). The rules are
// by family in catalog_files.cpp, catalog_git.cpp and catalog_system.cpp; what path operands
// name in catalog_paths.cpp.
#include "hooks/destructive_catalog.h"

#include "hooks/destructive_catalog_impl.h"
#include "hooks/glob.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks {

using namespace catalog;

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
    check_bare_output_redirects(c, b);
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
  else if (n == "git") check_git(c, o, b);
  else if (n == ":" || n == "true") check_bare_output_redirects(c, b);
  else if (one_of(n, {"psql", "mysql", "mariadb", "sqlite3", "sqlite", "duckdb", "mongo", "mongosh", "redis-cli",
                      "valkey-cli", "keydb-cli", "cockroach", "clickhouse-client"}))
    check_db(c, b);
  else if (one_of(n, {"kill", "pkill", "killall", "killall5"})) check_kill(c, b);
  else if (one_of(n, {"chmod", "chown", "chgrp"})) check_chmod(c, o, b);
  check_disk(c, o, b);
  check_misc(c, o, b);
  check_publish(c, b);
  check_docker_bulk(c, b);
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
