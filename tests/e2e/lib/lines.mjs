// tests/e2e/lib/lines.mjs — newline-delimited reading of a child's output.
//
// Depends on nothing, not even keel.mjs, so that helper processes a test
// writes out (tests/integration/scavenge.test.mjs's holders) can import it.

// Calls onLine(line) for every non-blank line `stream` yields, as UTF-8.
export function onLines(stream, onLine) {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) onLine(line);
    }
  });
}
