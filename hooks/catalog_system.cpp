// catalog_system.cpp — catalog rules for databases (DROP / TRUNCATE / DELETE without WHERE),
// processes (kill -1), disks and filesystems (mkfs, dd, wipefs, diskutil), and the rest
// (shutdown, fork bombs, find -delete, rsync --delete, ...).
#include "hooks/destructive_catalog_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks::catalog {

namespace {
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
}  // namespace

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

}  // namespace keel::hooks::catalog
