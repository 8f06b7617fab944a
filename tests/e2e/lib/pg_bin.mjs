// tests/e2e/lib/pg_bin.mjs — points the shared helpers at the PostgreSQL-capable binary.
//
// keel.mjs reads KEEL_BIN once, when it is first evaluated, and every helper
// (RawServer, runKeel, startHttpServer) spawns that binary. The PostgreSQL
// suites want `keel-pg` (the dynamically linked build with libpq), so they
// import this module FIRST, before anything that imports keel.mjs: ES modules
// evaluate their imports in order, so KEEL_BIN is set before keel.mjs reads it.
//
// Which binary: $KEEL_BIN_PG if set; else `keel-pg` beside $KEEL_BIN (or
// beside build/keel); else $KEEL_BIN itself (the static keel re-executes as
// keel-pg when it is given a store URL).
import fs from "node:fs";
import path from "node:path";

const REPO = path.resolve(new URL("../../../", import.meta.url).pathname);
const base = path.resolve(process.env.KEEL_BIN || path.join(REPO, "build/keel"));
const beside = path.join(path.dirname(base), "keel-pg");

function executable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const KEEL_PG_BIN = process.env.KEEL_BIN_PG
  ? path.resolve(process.env.KEEL_BIN_PG)
  : executable(beside)
    ? beside
    : base;
process.env.KEEL_BIN = KEEL_PG_BIN;
