// fetch-seller.mjs pays a Go seller (pkg/seller middleware) with the
// PUBLISHED clients, as a buyer would, for the Go e2e tests (e2e/seller_test.go).
// It reads one JSON job on stdin and prints one JSON answer on stdout.
//
// Job: {"client": "@x402/fetch" | "x402", "url": "http://...",
//       "scheme": "@x402/evm" | "@x402/svm" (with @x402/fetch), "network": "eip155:84532" | "solana:..." | "base-sepolia",
//       "privateKey": "0x..." (EVM) or "[1,2,...]" (Solana, 64 bytes), "rpcUrl": "http://..." (@x402/svm)}
//
// "@x402/fetch": wrapFetchWithPayment (npm @x402/fetch 2.x) with an
//   x402Client of @x402/core and the exact scheme of @x402/evm or @x402/svm:
//   it reads the 402's PAYMENT-REQUIRED header and retries with PAYMENT-SIGNATURE.
// "x402": the x402 1.2.0 client the way x402-fetch 1.x uses it: it reads the
//   402 JSON body (x402Version, accepts) through x402's PaymentRequirementsSchema,
//   selectPaymentRequirements, createPaymentHeader, and retries with X-PAYMENT.
//
// Answer: {"status", "body", "paymentResponse" (the decoded PAYMENT-RESPONSE /
//   X-PAYMENT-RESPONSE, or null), "paymentResponseHeader" (its name), "receivedAt" (ms)}.
import { wrapFetchWithPayment, decodePaymentResponseHeader } from "@x402/fetch";
import { x402Client } from "@x402/core/client";
import { toClientEvmSigner } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { toClientSvmSigner } from "@x402/svm";
import { createPaymentHeader, selectPaymentRequirements } from "x402/client";
import { createSigner, PaymentRequirementsSchema } from "x402/types";
import { privateKeyToAccount } from "viem/accounts";
import { createKeyPairSignerFromBytes, getBase58Encoder } from "@solana/kit";

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function answer(resp) {
  const receivedAt = Date.now();
  const body = await resp.text();
  let paymentResponse = null;
  let paymentResponseHeader = null;
  for (const name of ["PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE"]) {
    const v = resp.headers.get(name);
    if (v) {
      paymentResponse = decodePaymentResponseHeader(v);
      paymentResponseHeader = name;
      break;
    }
  }
  return { status: resp.status, body, paymentResponse, paymentResponseHeader, receivedAt };
}

async function payWithFetch(job) {
  const client = new x402Client();
  client.setSpendControls(false); // the dev token is no known asset; amounts are the test's
  if (job.scheme === "@x402/svm") {
    const bytes = job.privateKey.trim().startsWith("[") ? Uint8Array.from(JSON.parse(job.privateKey)) : getBase58Encoder().encode(job.privateKey);
    client.register(job.network, new ExactSvmScheme(toClientSvmSigner(await createKeyPairSignerFromBytes(bytes)), { rpcUrl: job.rpcUrl }));
  } else {
    client.register(job.network, new ExactEvmScheme(toClientEvmSigner(privateKeyToAccount(job.privateKey))));
  }
  const fetchWithPayment = wrapFetchWithPayment(fetch, client);
  return answer(await fetchWithPayment(job.url, { method: "GET" }));
}

async function payWithX402V1(job) {
  const first = await fetch(job.url);
  if (first.status !== 402) return answer(first);
  const body = await first.json();
  const accepts = body.accepts.map((x) => PaymentRequirementsSchema.parse(x));
  const selected = selectPaymentRequirements(accepts, job.network, "exact");
  const signer = await createSigner(selected.network, job.privateKey);
  const header = await createPaymentHeader(signer, body.x402Version, selected);
  return answer(await fetch(job.url, { headers: { "X-PAYMENT": header } }));
}

try {
  const job = await readStdin();
  const out = job.client === "x402" ? await payWithX402V1(job) : await payWithFetch(job);
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (e) {
  process.stderr.write(`fetch-seller: ${e?.stack ?? e}\n`);
  process.exit(1);
}
