// express-seller.mjs is a seller built on the PUBLISHED @x402/express 2.x
// paymentMiddleware, with our ingest as its facilitator (HTTPFacilitatorClient)
// and the @x402/evm and @x402/svm server schemes registered. The Go e2e tests
// (e2e/buyer_test.go) start it and pay it with pkg/buyer's RoundTripper.
//
// Configuration: the JSON in $H402_SELLER_CONFIG:
//   {"facilitatorUrl": "http://127.0.0.1:...",
//    "routes": [{"path": "/evm/report", "network": "eip155:84532", "asset": "0x...",
//                "amount": "10000", "payTo": "0x...", "extra": {"name": "...", "version": "..."}},
//               {"path": "/solana/report", "network": "solana:...", "asset": "<mint>",
//                "amount": "10000", "payTo": "<base58>"}]}
// Every route answers GET with {"report": <path>, "paid": true} once paid.
// It logs JSON lines on stderr: {"msg":"seller listening","url":...} when
// ready, {"msg":"served",...} per paid request; SIGTERM stops it.
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { ExactSvmScheme } from "@x402/svm/exact/server";

const log = (msg, fields = {}) => process.stderr.write(JSON.stringify({ msg, ...fields }) + "\n");

const cfg = JSON.parse(process.env.H402_SELLER_CONFIG ?? "{}");
if (!cfg.facilitatorUrl || !Array.isArray(cfg.routes) || cfg.routes.length === 0) {
  log("bad config", { error: "H402_SELLER_CONFIG needs facilitatorUrl and routes" });
  process.exit(2);
}

const facilitator = new HTTPFacilitatorClient({ url: cfg.facilitatorUrl });
const server = new x402ResourceServer(facilitator);
const networks = new Set(cfg.routes.map((r) => r.network));
for (const n of networks) {
  server.register(n, n.startsWith("solana:") ? new ExactSvmScheme() : new ExactEvmScheme());
}

const routes = {};
for (const r of cfg.routes) {
  routes["GET " + r.path] = {
    accepts: {
      scheme: "exact",
      network: r.network,
      payTo: r.payTo,
      price: { amount: r.amount, asset: r.asset, extra: r.extra ?? {} },
      maxTimeoutSeconds: r.maxTimeoutSeconds ?? 120,
    },
    description: "a paid report",
    mimeType: "application/json",
  };
}

const app = express();
app.use(paymentMiddleware(routes, server));
for (const r of cfg.routes) {
  app.get(r.path, (req, res) => {
    log("served", { path: r.path });
    res.json({ report: r.path, paid: true });
  });
}

const listener = app.listen(0, "127.0.0.1", () => {
  log("seller listening", { url: `http://127.0.0.1:${listener.address().port}` });
});
process.on("SIGTERM", () => listener.close(() => process.exit(0)));
