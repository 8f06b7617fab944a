// tests/e2e/lib/fixture.mjs — suite fixtures for the Node test runner: a
// state directory with `keel serve --stdio` servers on it, and calls pumped
// into a server until it is killed.
//
// Apart from keel.mjs because it registers node:test hooks (before/after).
import { after, before } from "node:test";
import path from "node:path";

import { RawServer, mkTmp, requireBinary, rmTmp, runKeel } from "./keel.mjs";

// Keeps up to `inFlight` calls send(0), send(1), ... running against `server`
// until it is SIGKILLed, `killAfterMs` after the start; resolves how many were
// sent once it has exited. send() returns the call's promise and records what
// was acknowledged; a call cut off by the kill is ignored.
export function pumpUntilKilled(server, { inFlight, killAfterMs }, send) {
  let stopped = false;
  let sent = 0;
  let running = 0;
  return new Promise((resolve) => {
    const pump = () => {
      while (!stopped && running < inFlight) {
        running++;
        send(sent++)
          .catch(() => {
            /* in flight when the server was killed: not acknowledged */
          })
          .finally(() => {
            running--;
            pump();
          });
      }
    };
    pump();
    setTimeout(() => {
      stopped = true;
      server.kill("SIGKILL");
      server.exitPromise.then(() => resolve(sent));
    }, killAfterMs);
  });
}

// A suite's state: before() makes a temp dir (prefix `prefix`) with a state
// directory `state` inside; serve() starts `keel serve --stdio --agent AGENT`
// on it, keel() runs a command on it; after() runs the suite's cleanups, kills
// the servers still running (SIGCONT first, for those a test stopped) and
// removes the temp dir. Call at a file's top level or in a
// describe(); read tmp and stateDir once the suite runs.
export function stdioStateFixture(prefix) {
  const servers = new Set();
  const fixture = {
    tmp: undefined,
    stateDir: undefined,
    servers,
    // Starts a server for `agent` (labelled `label` in errors) on the state dir.
    serve(agent, { label = agent } = {}) {
      const s = new RawServer(["serve", "--stdio", "--agent", agent, "--state", fixture.stateDir], {
        cwd: fixture.tmp,
        label,
      });
      servers.add(s);
      s.exitPromise.then(() => servers.delete(s));
      return s;
    },
    // Runs `keel ARGS... --state STATE` in the temp dir (see runKeel).
    keel(args, opts = {}) {
      return runKeel([...args, "--state", fixture.stateDir], { cwd: fixture.tmp, ...opts });
    },
    // Functions after() awaits before it kills the servers (other children).
    cleanups: [],
  };
  before(() => {
    requireBinary();
    fixture.tmp = mkTmp(prefix);
    fixture.stateDir = path.join(fixture.tmp, "state");
  });
  after(async () => {
    for (const c of fixture.cleanups) await c();
    for (const s of servers) {
      s.kill("SIGCONT");
      s.kill("SIGKILL");
    }
    rmTmp(fixture.tmp);
  });
  return fixture;
}
