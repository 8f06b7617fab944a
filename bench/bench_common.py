"""bench/bench_common.py — what every section of bench/harness.py shares: constants,
statistics and formatting, process helpers (a watchdog that kills a stalled
contender, CPU pinning, RSS), a JSON-RPC stdio client, and the report's section writer."""
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


def report_section(L, title, intro, header, rows):
    """Appends one section of the report to L: its title, what was measured
    (`intro`) and a Markdown table of `rows` under `header`."""
    L.append(f"### {title}\n")
    L.append(intro + "\n")
    L.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    L.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    L.append("")

