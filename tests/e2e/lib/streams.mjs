// tests/e2e/lib/streams.mjs — reading what a child or a server sends: a
// child's output line by line, an HTTP response body whole.
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

// Reads a node:http response body to its end, then calls done(text, json);
// json is undefined when the body is not JSON.
export function onBody(res, done) {
  const chunks = [];
  res.on("data", (d) => chunks.push(d));
  res.on("end", () => {
    const text = Buffer.concat(chunks).toString("utf8");
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    done(text, json);
  });
}
