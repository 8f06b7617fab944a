// catalog_files.cpp — catalog rules for commands that remove, lock, read or overwrite files: rm,
// chmod, readers of secrets, redirects and write targets (tee, cp, dd of=).
#include "hooks/destructive_catalog_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks::catalog {

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


namespace {
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
}  // namespace

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

namespace {
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
}  // namespace

namespace {
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
}  // namespace

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

// `> file` with no command (or `: > file`) empties the file: as truncate -s 0 does. Appending,
// /dev/null, descriptors and temporary files are left alone; a variable target is only
// known at run time (> "$LOG" usually makes a fresh log) and left alone like other redirects.
void check_bare_output_redirects(const Command& c, Best& b) {
  if (c.compound_redirects) return;  // { echo a; echo b; } > out: the group writes it
  for (const Redirect& r : c.redirects) {
    if (!(r.op == ">" || r.op == ">|" || r.op == "&>") || !r.target.resolved) continue;
    std::string p = normalise(r.target.text);
    if (p.empty() || p.starts_with("/dev/") || p.starts_with("/tmp/") || p.starts_with("/proc/")) continue;
    b.add(Outcome::Ask, "fs.truncate", "`> " + r.target.text + "` empties the file");
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

}  // namespace keel::hooks::catalog
