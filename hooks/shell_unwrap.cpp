// shell_unwrap.cpp — pass 2, wrappers: the programs that run the rest of their arguments as a
// command (sudo, env, timeout, nice, xargs, ssh, watch, parallel, ...) are peeled off so that the
// wrapped command is what gets judged.
#include "hooks/shell_analysis_impl.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace keel::hooks::detail {

namespace {
struct WrapSpec {
  std::string_view name;
  std::string_view argopts;
  int positional;
};
}  // namespace

constexpr WrapSpec kWrappers[] = {
    {"sudo", " -u -g -h -p -C -D -r -t -U -T -R --user --group --host --prompt --close-from --chdir --role --type --other-user --command-timeout --chroot ", 0},
    {"doas", " -u -C ", 0},
    {"builtin", "", 0},
    {"noglob", "", 0},
    {"nohup", "", 0},
    {"unbuffer", "", 0},
    {"catchsegv", "", 0},
    {"rlwrap", " -a -f -H -P -S ", 0},
    {"exec", " -a ", 0},
    {"nice", " -n --adjustment ", 0},
    {"renice", " -n -g -p -u ", 0},
    {"timeout", " -s -k --signal --kill-after ", 1},
    {"gtimeout", " -s -k --signal --kill-after ", 1},
    {"time", " -f -o --format --output ", 0},
    {"stdbuf", " -i -o -e --input --output --error ", 0},
    {"ionice", " -c -n -p -P -u --class --classdata --pid --pgid --uid ", 0},
    {"chrt", "", 1},
    {"taskset", "", 1},
    {"setsid", "", 0},
    {"caffeinate", " -w -t ", 0},
    {"proxychains", " -f ", 0},
    {"proxychains4", " -f ", 0},
    {"torsocks", " -u -p -a -P ", 0},
    {"firejail", "", 0},
    {"strace", " -o -e -p -s -u -a -b -I -O -P -S -X ", 0},
    {"ltrace", " -o -e -p -s -u -a -n ", 0},
    {"valgrind", "", 0},
    {"systemd-run", " -p -u -E -M -H --property --unit --setenv --machine --host --description --slice --uid --gid ", 0},
    {"chroot", " --userspec --groups ", 1},
    {"busybox", "", 0},
    {"toybox", "", 0},
    {"unshare", " -S -G -R -w --setuid --setgid --root --wd --map-user --map-group --map-users --map-groups --propagation --setgroups --kill-child --mount-proc --load-interp ", 0},
    {"pkexec", " -u --user ", 0},
    {"run0", " -u -g -D -a --user --group --chdir --setenv --unit --property --description --slice --nice --machine --background ", 0},
    {"sshpass", " -p -f -d -P ", 0},
    {"gosu", "", 1},
    {"su-exec", "", 1},
    {"setpriv", " --reuid --regid --groups --inh-caps --ambient-caps --bounding-set --securebits --pdeathsig --selinux-label --apparmor-profile --landlock-access --landlock-rule ", 0},
    {"coproc", "", 0},
    {"xargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"gxargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"bunx", " -p --package ", 0},
    {"pnpx", " -p --package ", 0},
    {"winpty", "", 0},
};

namespace {
struct Wrap2Spec {
  std::string_view first, second, argopts;
  int positional;
};
}  // namespace

constexpr Wrap2Spec kWrappers2[] = {
    {"docker", "exec", " -e -u -w --env --user --workdir --env-file --detach-keys ", 1},
    {"podman", "exec", " -e -u -w --env --user --workdir --env-file --detach-keys ", 1},
    {"docker", "run", " -e -v -p -w -u -l -m -h -a -c --name --network --net --entrypoint --mount --label --env --env-file --platform --memory --cpus --user --workdir --volume --publish --hostname --add-host --device --cap-add --cap-drop --security-opt --restart --log-driver --log-opt --pull --gpus --shm-size --ulimit --tmpfs --expose --dns --link --volumes-from --ipc --pid --runtime --stop-signal --cidfile --label-file --group-add --health-cmd ", 1},
    {"podman", "run", " -e -v -p -w -u -l -m -h -a -c --name --network --net --entrypoint --mount --label --env --env-file --platform --memory --cpus --user --workdir --volume --publish --hostname --add-host --device --cap-add --cap-drop --security-opt --restart --pull --tmpfs ", 1},
    {"direnv", "exec", "", 1},
    {"devbox", "run", " -c --config -e --env --env-file ", 0},
    {"uv", "run", " --with --python -p --directory --project --env-file --extra --group --package --index --with-requirements ", 0},
    {"poetry", "run", " -C --directory -P --project ", 0},
    {"pipenv", "run", "", 0},
    {"pdm", "run", " -p --project ", 0},
    {"hatch", "run", "", 0},
    {"rye", "run", "", 0},
    {"bundle", "exec", "", 0},
    {"conda", "run", " -n -p --name --prefix --cwd ", 0},
    {"mamba", "run", " -n -p --name --prefix --cwd ", 0},
    {"pixi", "run", " -e --environment --manifest-path ", 0},
    {"npm", "exec", " --package -p -w --workspace ", 0},
    {"pnpm", "exec", " -C --dir --filter -F ", 0},
    {"pnpm", "dlx", " --package ", 0},
    {"yarn", "dlx", " -p --package ", 0},
    {"yarn", "exec", "", 0},
    {"nix", "run", " -f --file ", 0},
    {"op", "run", " --env-file ", 0},
    {"doppler", "run", " -p -c --project --config --token ", 0},
    {"aws-vault", "exec", " -d --duration -t --mfa-token ", 1},
    {"docker-compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"docker-compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
    {"podman-compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"podman-compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
};

// docker compose exec|run SERVICE CMD...: a wrapper three words deep.
constexpr Wrap2Spec kComposeSubcommands[] = {
    {"compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
};

namespace {
// ssh -o options whose value is a command run on this machine (or, RemoteCommand, remotely).
bool ssh_command_option(std::string_view key) {
  std::string k = lower(key);
  return k == "proxycommand" || k == "localcommand" || k == "remotecommand" || k == "knownhostscommand";
}
}  // namespace

// Handles the wrapper at argv[0] of command ci. Returns the index where the wrapped command
// starts (> 0), or 0 when argv[0] is not a wrapper running a further command here (including
// wrappers whose payload was handled as a shell string).
std::size_t unwrap_one(Ctx& c, int ci, const std::string& nm) {
  const std::vector<Word> a = cmd_at(c, ci).argv;  // copy: sub_parse may grow the command list
  const std::size_t n = a.size();
  // `-c TEXT` or `<long_opt> TEXT` from argv[from] on: TEXT runs as a shell command line.
  auto shell_string_option = [&](std::size_t from, std::string_view long_opt) {
    for (std::size_t k = from; k + 1 < n; ++k)
      if (a[k].text == "-c" || a[k].text == long_opt) {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return true;
      }
    return false;
  };
  if (nm == "coproc" && n > 2 && a[1].text != "{" && a[2].text == "{") return 3 < n ? 3 : 0;  // coproc NAME { cmd; }
  if (nm == "coproc" && n > 1 && a[1].text == "{") return 2 < n ? 2 : 0;
  for (const auto& w : kWrappers) {
    if (nm != w.name) continue;
    if (nm == "sudo") {
      for (std::size_t k = 1; k < n && a[k].text.size() > 1 && a[k].text[0] == '-' && a[k].text[1] != '-'; ++k)
        if (a[k].text.find_first_of("elvK") != std::string::npos && a[k].text.find_first_of("uUgpChDrtTR") == std::string::npos)
          return 0;  // sudo -e (edit), -l, -v, -K: no command
    }
    std::size_t k = skip_opts(a, 1, w.argopts);
    if (nm == "xargs" || nm == "gxargs") {
      cmd_at(c, ci).operands_from_stdin = true;
      // -I R: replacement string inside the command's words.
      for (std::size_t j = 1; j + 1 < n && j < k; ++j)
        if (a[j].text == "-I" || a[j].text == "--replace") {
          std::string rep = a[j + 1].text;
          for (std::size_t q = k; q < n; ++q)
            if (!rep.empty() && a[q].text.find(rep) != std::string::npos)
              cmd_at(c, ci).argv[q].resolved = false;
        }
      if (k >= n) return 0;
    }
    for (int p = 0; p < w.positional && k < n; ++p) ++k;
    return k < n ? k : 0;
  }
  if (nm == "npm" && n > 2 && a[1].text == "exec" && shell_string_option(2, "--call")) return 0;
  for (const auto& w : kWrappers2) {
    if (nm != w.first || n < 2 || a[1].text != w.second) continue;
    std::size_t k = skip_opts(a, 2, w.argopts);
    for (int p = 0; p < w.positional && k < n; ++p) ++k;
    return k < n ? k : 0;
  }
  if ((nm == "docker" || nm == "podman") && n > 2) {
    for (const auto& w : kComposeSubcommands) {
      if (a[1].text != w.first || a[2].text != w.second) continue;
      std::size_t k = skip_opts(a, 3, w.argopts);
      for (int p = 0; p < w.positional && k < n; ++p) ++k;
      return k < n ? k : 0;
    }
  }
  if (nm == "trap") {
    // trap 'cmd' SIGNAL...: cmd runs when the signal (or EXIT) arrives.
    if (n > 2 && !a[1].text.starts_with("-")) {
      if (a[1].resolved) sub_parse(c, a[1].text, ci, Origin::ShellString);
      else dynamic_finding(c, ci, a[1], "trap");
    }
    return 0;
  }
  if (nm == "sg") {
    // sg [-] GROUP [-c] COMMAND: the command is a shell string.
    std::size_t k = 1;
    if (k < n && a[k].text == "-") ++k;
    ++k;  // the group
    if (k < n && a[k].text == "-c") ++k;
    if (k < n) sub_parse(c, join_raw(a, k), ci, Origin::ShellString);
    return 0;
  }
  if (nm == "env") {
    std::size_t k = 1;
    while (k < n) {
      const std::string& t = a[k].text;
      if (!a[k].resolved) return k;
      if (t == "--") return k + 1 < n ? k + 1 : 0;
      if (t == "-S" || t == "--split-string" || (t.starts_with("-S") && t.size() > 2) || t.starts_with("--split-string=")) {
        std::string s = t == "-S" || t == "--split-string" ? (k + 1 < n ? a[k + 1].text : std::string())
                        : t.starts_with("-S") ? t.substr(2) : t.substr(t.find('=') + 1);
        std::size_t rest = (t == "-S" || t == "--split-string") ? k + 2 : k + 1;
        sub_parse(c, s + " " + join_quoted(a, rest), ci, Origin::ShellString);
        return 0;
      }
      if (t == "-u" || t == "-C" || t == "-P" || t == "--unset" || t == "--chdir") {
        k += 2;
        continue;
      }
      if (t[0] == '-' || is_assignment_word(t)) {
        ++k;
        continue;
      }
      break;
    }
    return k < n ? k : 0;
  }
  if (nm == "command") {
    std::size_t k = 1;
    while (k < n && a[k].text.size() > 1 && a[k].text[0] == '-') {
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
      if (a[k].text.find_first_of("vV") != std::string::npos) return 0;  // lookup only
      ++k;
    }
    return k < n ? k : 0;
  }
  if (nm == "npx") {
    if (shell_string_option(1, "--call")) return 0;
    std::size_t k = skip_opts(a, 1, " -p --package ");
    return k < n ? k : 0;
  }
  if (nm == "flock") {
    if (shell_string_option(1, "--command")) return 0;
    std::size_t k = skip_opts(a, 1, " -w -E --timeout --conflict-exit-code ");
    ++k;  // the lock file
    return k < n ? k : 0;
  }
  if (nm == "watch") {
    std::size_t k = 1;
    bool exec_form = false;
    while (k < n && a[k].text.size() > 1 && a[k].text[0] == '-') {
      const std::string& t = a[k].text;
      if (t == "--") {
        ++k;
        break;
      }
      if (t == "-x" || t == "--exec") exec_form = true;
      k += (t == "-n" || t == "--interval" || t == "-q" || t == "--equexit") ? 2 : 1;
    }
    if (k >= n) return 0;
    if (exec_form) return k;
    sub_parse(c, join_raw(a, k), ci, Origin::ShellString);
    return 0;
  }
  if (nm == "parallel") {
    std::size_t k = skip_opts(a, 1, " -j -J -S -n -N -I -C -d -a -E --jobs --sshlogin --colsep --delimiter --arg-file --halt --joblog --results --tmpdir --workdir --timeout --load --env --memfree --delay --tag-string --tagstring ");
    std::size_t sep = k;
    while (sep < n && !one_of(a[sep].text, {":::", "::::", ":::+", "::::+"})) ++sep;
    if (sep == k) {
      c.find(FindingKind::DynamicCode, ci, "parallel runs command lines read from its input");
      return 0;
    }
    std::string text = join_raw(a, k, sep);
    for (std::size_t q = sep; q < n; ++q)
      if (!one_of(a[q].text, {":::", "::::", ":::+", "::::+"})) text += " " + a[q].text;
    std::size_t before = c.out.commands.size();
    sub_parse(c, text, ci, Origin::WrapperArgs);
    for (std::size_t q = before; q < c.out.commands.size(); ++q) c.out.commands[q].operands_from_stdin = true;
    return 0;
  }
  if (nm == "ssh" || nm == "scp" || nm == "sftp") {
    for (std::size_t k = 1; k < n; ++k) {
      std::string opt;
      if (a[k].text == "-o" && k + 1 < n) opt = a[k + 1].text;
      else if (a[k].text.starts_with("-o") && a[k].text.size() > 2) opt = a[k].text.substr(2);
      else continue;
      std::size_t sep = opt.find_first_of("= ");
      if (sep == std::string::npos || !ssh_command_option(opt.substr(0, sep))) continue;
      std::size_t v = opt.find_first_not_of("= ", sep);
      if (v != std::string::npos) sub_parse(c, opt.substr(v), ci, Origin::ShellString);
    }
    if (nm != "ssh") return 0;
    std::size_t k = skip_opts(a, 1, " -b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B ");
    if (k + 1 >= n) return 0;
    sub_parse(c, join_raw(a, k + 1), ci, Origin::Remote);
    return 0;
  }
  if (nm == "su" || nm == "runuser") {
    for (std::size_t k = 1; k < n; ++k) {
      const std::string& t = a[k].text;
      if ((t == "-c" || t == "--command") && k + 1 < n) {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
      if (t.starts_with("--command=")) {
        sub_parse(c, t.substr(10), ci, Origin::ShellString);
        return 0;
      }
      if (t == "--" && nm == "runuser") return k + 1 < n ? k + 1 : 0;
    }
    return 0;
  }
  if (nm == "script") {
    shell_string_option(1, "--command");
    return 0;
  }
  if (nm == "kubectl" || nm == "oc") {
    if (n < 2 || (a[1].text != "exec" && a[1].text != "debug")) return 0;
    for (std::size_t k = 2; k < n; ++k)
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
    std::size_t k = skip_opts(a, 2, " -c -n --container --namespace --context -f --filename ");
    ++k;
    return k < n ? k : 0;
  }
  if (nm == "mise" || nm == "rtx" || nm == "asdf") {
    if (n < 2 || !one_of(a[1].text, {"exec", "x"})) return 0;
    for (std::size_t k = 2; k < n; ++k) {
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
      if ((a[k].text == "-c" || a[k].text == "--command") && k + 1 < n) {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    }
    if (nm == "asdf") return 2 < n ? 2 : 0;  // asdf exec COMMAND [ARGS]
    return 0;
  }
  if (nm == "nix-shell") {
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (a[k].text == "--run" || a[k].text == "--command") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    return 0;
  }
  return 0;
}

}  // namespace keel::hooks::detail
