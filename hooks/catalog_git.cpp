// catalog_git.cpp — catalog rules for git: history rewrites, forced pushes, discarded work
// (reset --hard, clean -f, checkout -- PATH, stash drop, branch -D), hooks switched off
// (commit --no-verify, core.hooksPath), interactive rebases, tag deletion.
#include "hooks/destructive_catalog_impl.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

namespace keel::hooks::catalog {

namespace {
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

// True when `word`, taken from the call's working directory, names an existing file or
// directory: `git checkout src` then means the path, not a branch. One stat(2); unknown cwd or
// a name that cannot be a plain relative path → false (the operand stays a ref).
bool exists_in_tree(std::string_view word, const CatalogOptions& o) {
  if (o.cwd.empty() || word.empty() || word.find('\0') != std::string_view::npos || word.size() > 1024) return false;
  std::string p = o.cwd;
  if (!p.ends_with("/")) p += '/';
  p.append(word);
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}
}  // namespace

// Arguments of git after the subcommand.
void check_git(const Command& c, const CatalogOptions& o, Best& b) {
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
  if (one_of(sub, {"commit", "merge", "am", "cherry-pick", "revert", "pull"}) &&
      (has({"--no-verify"}) || (sub == "commit" && short_flag('n')))) {
    b.add(Outcome::Deny, "git.no-verify",
          "git " + sub + " --no-verify skips the repository's hooks (its checks, keel's pre-commit lease guard); fix "
          "what the hook reports instead");
  } else if (sub == "push" && has({"--no-verify"})) {
    b.add(Outcome::Ask, "git.no-verify", "git push --no-verify skips the repository's pre-push checks");
  }
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
    if (!creates && ops.size() == 1)
      paths = paths || looks_like_pathspec(ops[0]->text) || (ops[0]->resolved && exists_in_tree(ops[0]->text, o));
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
  } else if (sub == "rebase") {
    // An interactive rebase opens the todo list in an editor the agent cannot drive: without
    // GIT_SEQUENCE_EDITOR on the command it waits until the tool's timeout, leaving a rebase
    // half done. With one, it still rewrites history: a human decides.
    if (has({"--interactive", "--edit-todo"}) || short_flag('i')) {
      bool editor = std::any_of(c.assignments.begin(), c.assignments.end(),
                                [](const auto& kv) { return kv.first == "GIT_SEQUENCE_EDITOR" || kv.first == "GIT_EDITOR"; });
      if (editor) b.add(Outcome::Ask, "git.rebase-interactive", "git rebase -i rewrites history");
      else
        b.add(Outcome::Deny, "git.rebase-interactive",
              "git rebase -i waits on an editor an agent cannot use (and rewrites history); rebase non-interactively "
              "(git rebase main, git rebase --autosquash with GIT_SEQUENCE_EDITOR=:)");
    }
  } else if (sub == "tag") {
    if (has({"--delete"}) || short_flag('d')) b.add(Outcome::Ask, "git.tag-delete", "git tag -d deletes a tag");
  } else if (sub == "config") {
    // core.hooksPath pointed elsewhere switches off every hook of the repository (keel's
    // pre-commit guard included), silently and for every later commit. Reading it is fine.
    for (std::size_t k = 2; k < a.size(); ++k) {
      if (lower(a[k].text) != "core.hookspath") continue;
      bool reading = has({"--get", "--get-all", "--get-regexp", "--unset", "--unset-all", "--list"}) ||
                     (k >= 3 && (a[2].text == "get" || a[2].text == "unset" || a[2].text == "list"));
      if (!reading && k + 1 < a.size())
        b.add(Outcome::Deny, "git.hooks-path",
              "git config core.hooksPath switches off the repository's git hooks (keel's pre-commit guard included)");
      break;
    }
  } else if (sub == "worktree") {
    if (a.size() > 2 && a[2].text == "remove" && (has({"--force"}) || short_flag('f')))
      b.add(Outcome::Ask, "git.worktree-remove-force", "git worktree remove --force deletes a worktree with changes");
  }
}

}  // namespace keel::hooks::catalog
