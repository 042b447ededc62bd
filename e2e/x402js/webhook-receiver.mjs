// A webhook receiver for the Go e2e tests: it verifies every request with
// the published npm `standardwebhooks` package, once per secret alone, and
// answers per a script.
//
//   WEBHOOK_SECRETS=whsec_a,whsec_b node webhook-receiver.mjs --answers 500,500,500,200
//
// --answers lists the status answered to the 1st, 2nd, ... request of each
// webhook-id; the last one repeats. A line "answers <list>" on stdin
// replaces the script. It listens on 127.0.0.1 (a free port) and prints one
// JSON line per event: first {"listening": <port>}, then per request
// {"id", "timestamp", "n", "status", "verified": [indices of the secrets
// that verified alone], "errors": [message per secret that did not],
// "type", "dataId"}.
import http from "node:http";
import readline from "node:readline";
import { Webhook } from "standardwebhooks";

const secrets = (process.env.WEBHOOK_SECRETS ?? "").split(",").filter(Boolean);
if (secrets.length === 0) {
  console.error("WEBHOOK_SECRETS is empty");
  process.exit(2);
}
const hooks = secrets.map((s) => new Webhook(s));
let answers = [200];
const i = process.argv.indexOf("--answers");
if (i >= 0) answers = process.argv[i + 1].split(",").map(Number);

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, list] = line.trim().split(/\s+/);
  if (cmd === "answers" && list) answers = list.split(",").map(Number);
});

const seen = new Map();
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"] ?? "";
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    const verified = [];
    const errors = [];
    hooks.forEach((wh, k) => {
      try {
        wh.verify(body, req.headers);
        verified.push(k);
      } catch (e) {
        errors.push(String(e.message ?? e));
      }
    });
    let type = "", dataId = "";
    try {
      const j = JSON.parse(body);
      type = j.type;
      dataId = j.data?.id ?? "";
    } catch {}
    const status = answers[Math.min(n, answers.length) - 1];
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(String(status));
    process.stdout.write(JSON.stringify({ id, timestamp: req.headers["webhook-timestamp"], n, status, verified, errors, type, dataId,
      contentType: req.headers["content-type"] ?? "" }) + "\n");
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\n");
});
