#!/usr/bin/env python3
"""journal.retention soak: writes journal records for N minutes into a fresh project while
`keel serve --stdio` runs beside, and prints the state directory's size over time; once with
journal.retention on (max_records, export to a directory), once with it off. With retention the
size must level off; without it, it grows with every record.

usage: bench/retention_soak.py [--keel build/keel] [--minutes 2] [--writers 4]
                               [--max-records 5000] [--every 10]
"""
import argparse
import json
import os
import subprocess
import tempfile
import threading
import time


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def soak(keel, minutes, writers, max_records, every, retention):
    project = tempfile.mkdtemp(prefix="keel-soak-")
    os.makedirs(os.path.join(project, ".keel"))
    config = {}
    if retention:
        config = {"journal": {"retention": {"max_records": max_records, "export_dir": "archive",
                                            "interval_ms": 2000}}}
    with open(os.path.join(project, ".keel", "keel.jsonc"), "w") as f:
        json.dump(config, f)
    subprocess.run([keel, "journal", "verify"], cwd=project, check=True, capture_output=True)
    serve = subprocess.Popen([keel, "serve", "--stdio"], cwd=project, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = time.monotonic() + minutes * 60
    written = [0] * writers

    def write(i):
        while time.monotonic() < stop:
            # A short lease: its ACQUIRE, and the EXPIRE of the previous one when reaped.
            subprocess.run([keel, "lease", "acquire", f"file:/soak/w{i}/{written[i]}",
                            "--ttl-ms", "1000", "--agent", f"w{i}"],
                           cwd=project, check=True, capture_output=True)
            written[i] += 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    state = os.path.join(project, ".keel")
    print(f"retention {'on ' if retention else 'off'}: t_s records_written state_bytes")
    t0 = time.monotonic()
    while time.monotonic() < stop:
        time.sleep(every)
        print(f"  {time.monotonic() - t0:6.0f} {sum(written):8d} {dir_bytes(state):12d}", flush=True)
    for t in threads:
        t.join()
    serve.stdin.close()
    serve.wait(timeout=30)
    verify = subprocess.run([keel, "journal", "verify"], cwd=project, capture_output=True, text=True)
    replay = subprocess.run([keel, "journal", "replay"], cwd=project, capture_output=True, text=True)
    print(f"  {verify.stdout.strip()}; {replay.stdout.splitlines()[0] if replay.stdout else replay.stderr.strip()}")
    archive = os.path.join(project, "archive")
    if os.path.isdir(archive):
        print(f"  export files: {len(os.listdir(archive))}, {dir_bytes(archive)} bytes")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keel", default="build/keel")
    p.add_argument("--minutes", type=float, default=2)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--max-records", type=int, default=5000)
    p.add_argument("--every", type=float, default=10)
    a = p.parse_args()
    keel = os.path.abspath(a.keel)
    soak(keel, a.minutes, a.writers, a.max_records, a.every, True)
    soak(keel, a.minutes, a.writers, a.max_records, a.every, False)


if __name__ == "__main__":
    main()
