#!/usr/bin/env python3
"""Whole-process latency of `keel hook --dialect claude` on a PreToolUse Bash
event, side by side in the same run with a minimal Python hook, a minimal Node
hook (both only echo "allow") and /bin/true as the exec floor; and, for
comparison, keel on a PreToolUse Edit, which opens the store (lease check and
HOOK journal record).

Each round runs every contender once, interleaved, with the same stdin; the
report gives p50 / p99 / max per contender and the ratios of the medians.
Usage: bench/hook_latency.py [--keel build/keel] [--runs 500] [--node PATH]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

EVENT = json.dumps({
    "session_id": "bench", "transcript_path": "/tmp/bench.jsonl", "cwd": "/tmp",
    "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
    "tool_input": {"command": "npm test -- --ci", "description": "Run tests", "timeout": 120000},
    "tool_use_id": "toolu_bench"}).encode()
# The slow path, for comparison: an Edit, which the lease gate checks against the store.
EDIT_EVENT = json.dumps({
    "session_id": "bench", "transcript_path": "/tmp/bench.jsonl", "cwd": "/tmp",
    "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Edit",
    "tool_input": {"file_path": "/tmp/bench.txt", "old_string": "a", "new_string": "b"},
    "tool_use_id": "toolu_bench"}).encode()
ALLOW = '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}}'

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keel", default="build/keel")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--node", default=shutil.which("node") or "")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="keel-hook-bench-")
    py = os.path.join(tmp, "hook.py")
    with open(py, "w") as f:
        f.write("import sys, json\njson.load(sys.stdin)\nprint(%r)\n" % ALLOW)
    js = os.path.join(tmp, "hook.js")
    with open(js, "w") as f:
        f.write("let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{JSON.parse(s);"
                "console.log(%s)});\n" % json.dumps(ALLOW))
    state = os.path.join(tmp, "state")
    keel = [os.path.abspath(a.keel), "hook", "--dialect", "claude", "--state", state]
    contenders = {  # name -> (argv, stdin)
        "/bin/true": (["/bin/true"], EVENT),
        "keel hook": (keel, EVENT),
        "keel hook, Edit (lease check in the store)": (keel, EDIT_EVENT),
        "python3 hook": ([sys.executable, py], EVENT),
    }
    if a.node:
        contenders["node hook"] = ([a.node, js], EVENT)
    times = {k: [] for k in contenders}
    for _ in range(3):  # warm-up (page cache, store creation)
        for cmd, stdin in contenders.values():
            subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(a.runs):
        for name, (cmd, stdin) in contenders.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append((time.perf_counter() - t0) * 1000)
    floor = statistics.median(times["/bin/true"])
    keel = statistics.median(times["keel hook"])
    print(f"{a.runs} interleaved rounds; {os.cpu_count()} cores\n")
    print("| contender | p50 ms | p99 ms | max ms | p50 / floor | p50 / keel |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        t.sort()
        p50 = statistics.median(t)
        p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {t[-1]:.2f} | {p50 / floor:.2f} | {p50 / keel:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
