// tests/reliability/soak.mjs — the load generator and sampler behind scripts/soak.
//
// Starts `keel serve --http 127.0.0.1:0` on a fresh state dir and drives it
// with CLIENTS concurrent keep-alive clients (2026-07-28 era, one POST per
// call) doing a mix of memory_put / memory_get / memory_search (keys cycle
// over a bounded set, so live data stays the same size while the journal
// grows), lease_acquire + lease_release, and journal_tail. Every SAMPLE_S
// seconds it records calls/s, the server's VmRSS (/proc/PID/status) and open
// fd count (/proc/PID/fd). At the end it stops the server (SIGTERM) and runs
// `keel journal verify`.
//
// Exit 1 when: RSS grew > 5% (median of the last 3 samples vs the first 3
// after the warm-up, the first 20% of the run and at least one sample), the
// median fd count of the last third exceeds that of the first third after
// warm-up, any call failed, or verify failed. Prints a summary and, with
// KEEL_SOAK_JSON=FILE, writes the samples and verdict as JSON.
//
// Usage: node tests/reliability/soak.mjs [seconds=600]   (KEEL_BIN, KEEL_SOAK_CLIENTS,
//        KEEL_SOAK_SAMPLE_S)
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { MODERN, RawServer, mkTmp, modernMeta, onBody, rmTmp, runKeel, sleep } from "../e2e/lib/keel.mjs";

const SECONDS = Number(process.argv[2] ?? 600);
const CLIENTS = Number(process.env.KEEL_SOAK_CLIENTS ?? 4);
const SAMPLE_S = Number(process.env.KEEL_SOAK_SAMPLE_S ?? Math.max(1, Math.min(10, Math.floor(SECONDS / 20))));
const KEYS = 200;

const tmp = mkTmp("keel-soak-");
const stateDir = path.join(tmp, "state");
const srv = new RawServer(["serve", "--http", "127.0.0.1:0", "--agent", "soak", "--state", stateDir], { cwd: tmp, label: "soak-server" });

async function portOf() {
  const t0 = Date.now();
  for (;;) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(srv.stderr());
    if (m) return Number(m[1]);
    if (srv.exited || Date.now() - t0 > 20_000) throw new Error(`server did not start: ${srv.stderr()}`);
    await sleep(50);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
let nextId = 1;
function call(port, name, args) {
  const body = JSON.stringify({ jsonrpc: "2.0", id: nextId++, method: "tools/call", params: { name, arguments: args, _meta: modernMeta(MODERN) } });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/mcp",
        agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": MODERN,
          "mcp-method": "tools/call",
          "mcp-name": name,
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) =>
        onBody(res, (text, msg) => {
          if (msg === undefined) {
            reject(new Error(`${name}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
          } else if (res.statusCode !== 200 || !msg.result || msg.result.isError) {
            reject(new Error(`${name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          } else resolve(msg.result.structuredContent ?? {});
        }),
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${name}: timeout`)));
    req.on("error", reject);
    req.end(body);
  });
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
async function client(port, c, until, stats) {
  let i = 0;
  while (Date.now() < until) {
    const k = `soak/c${c}/k${i % KEYS}`;
    const w = WORDS[i % WORDS.length];
    try {
      switch (i % 6) {
        case 0:
        case 1:
          await call(port, "memory_put", { key: k, namespace: "shared", value: { note: `${w} ${i}`, c, i } });
          break;
        case 2:
          await call(port, "memory_get", { key: k, namespace: "shared" });
          break;
        case 3:
          await call(port, "memory_search", { query: w, namespace: "shared", limit: 5 });
          break;
        case 4: {
          const a = await call(port, "lease_acquire", { name: `name:soak/${c}/${i % 7}`, ttl_ms: 5000, wait_ms: 0 });
          if (a.granted) {
            await call(port, "lease_release", { name: `name:soak/${c}/${i % 7}`, lease_id: a.lease_id });
            stats.calls++;
          }
          break;
        }
        default:
          await call(port, "journal_tail", { limit: 10 });
      }
      stats.calls++;
    } catch (e) {
      stats.errors++;
      if (stats.firstErrors.length < 5) stats.firstErrors.push(e.message);
    }
    i++;
  }
}

function procStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  return { rssKb, fds };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let exitCode = 1;
try {
  const port = await portOf();
  const pid = srv.pid;
  const t0 = Date.now();
  const until = t0 + SECONDS * 1000;
  const stats = { calls: 0, errors: 0, firstErrors: [] };
  const samples = [];
  const sampler = (async () => {
    let lastCalls = 0;
    let lastT = t0;
    samples.push({ t: 0, callsPerS: 0, ...procStats(pid) });
    while (Date.now() < until) {
      await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, until - Date.now())));
      const now = Date.now();
      if (now - lastT < 500) break; // the run ended just after the last sample
      const s = { t: Math.round((now - t0) / 1000), callsPerS: Math.round(((stats.calls - lastCalls) * 1000) / (now - lastT)), ...procStats(pid) };
      lastCalls = stats.calls;
      lastT = now;
      samples.push(s);
      console.log(`soak t=${String(s.t).padStart(4)} s  ${String(s.callsPerS).padStart(6)} calls/s  rss ${(s.rssKb / 1024).toFixed(1)} MiB  fds ${s.fds}  errors ${stats.errors}`);
    }
  })();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(port, c, until, stats)));
  await sampler;
  agent.destroy();
  srv.kill("SIGTERM");
  const st = await srv.exitPromise;
  const ver = await runKeel(["journal", "verify", "--state", stateDir], { cwd: tmp, timeout: 600_000 });

  const body = samples.slice(1);
  const warm = Math.max(1, Math.ceil(body.length * 0.2));
  const after = body.slice(warm);
  const base = median(after.slice(0, 3).map((s) => s.rssKb));
  const end = median(after.slice(-3).map((s) => s.rssKb));
  const growth = (end - base) / base;
  const third = Math.max(1, Math.floor(after.length / 3));
  // Medians: a file SQLite opens for a moment (a checkpoint) is not a leak; a
  // leak moves the whole last third.
  const fdEarly = median(after.slice(0, third).map((s) => s.fds));
  const fdLate = median(after.slice(-third).map((s) => s.fds));
  const rates = body.map((s) => s.callsPerS);
  const verdict = {
    seconds: SECONDS,
    clients: CLIENTS,
    calls: stats.calls,
    errors: stats.errors,
    calls_per_s: { mean: Math.round(stats.calls / SECONDS), min: Math.min(...rates), median: median(rates), max: Math.max(...rates) },
    rss_kb: { idle: samples[0].rssKb, after_warmup: base, end, growth_pct: Number((growth * 100).toFixed(2)), max: Math.max(...body.map((s) => s.rssKb)) },
    fds: { idle: samples[0].fds, early_median: fdEarly, late_median: fdLate, max: Math.max(...body.map((s) => s.fds)) },
    server_exit: st,
    verify: { code: ver.code, out: ver.stdout.trim() },
  };
  const failures = [];
  if (growth > 0.05) failures.push(`RSS grew ${(growth * 100).toFixed(1)}% after warm-up (limit 5%)`);
  if (fdLate > fdEarly) failures.push(`open fds grew from ${fdEarly} to ${fdLate}`);
  if (stats.errors > 0) failures.push(`${stats.errors} calls failed: ${stats.firstErrors.join(" | ")}`);
  if (ver.code !== 0) failures.push(`journal verify exit ${ver.code}: ${ver.stdout} ${ver.stderr}`);
  if (st.code !== 0) failures.push(`server exit ${JSON.stringify(st)}`);
  verdict.failures = failures;
  console.log("\nsoak summary");
  console.log(`  ${SECONDS} s, ${CLIENTS} clients, ${stats.calls} calls, ${stats.errors} errors`);
  console.log(`  calls/s: mean ${verdict.calls_per_s.mean}, per sample min ${verdict.calls_per_s.min} median ${verdict.calls_per_s.median} max ${verdict.calls_per_s.max}`);
  console.log(`  RSS: idle ${(samples[0].rssKb / 1024).toFixed(1)} MiB, after warm-up ${(base / 1024).toFixed(1)} MiB, end ${(end / 1024).toFixed(1)} MiB (${(growth * 100).toFixed(2)}%)`);
  console.log(`  fds: idle ${samples[0].fds}, median of the first third ${fdEarly}, of the last third ${fdLate}, max ${verdict.fds.max}`);
  console.log(`  journal verify: exit ${ver.code} ${ver.stdout.trim()}`);
  console.log(failures.length ? `  FAILED: ${failures.join("; ")}` : "  PASS");
  if (process.env.KEEL_SOAK_JSON) fs.writeFileSync(process.env.KEEL_SOAK_JSON, JSON.stringify({ verdict, samples }, null, 2));
  exitCode = failures.length ? 1 : 0;
} catch (e) {
  console.error(`soak: ${e.stack ?? e}`);
  srv.kill("SIGKILL");
} finally {
  rmTmp(tmp);
}
process.exit(exitCode);
