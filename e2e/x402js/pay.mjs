// pay.mjs drives the PUBLISHED x402 client packages for the Go e2e tests.
// It reads one JSON job on stdin and prints one JSON answer on stdout.
//
// Pay job (makes a payment with a real client library, no re-implementation):
//   {"mode":"pay", "client":"x402"|"@x402/evm"|"@x402/svm", "x402Version":1|2,
//    "privateKey":"0x..." (EVM) or "[1,2,...]" / base58 (Solana, 64 bytes),
//    "paymentRequirements":{...x402 form...}, "resource":{...} (v2, optional),
//    "rpcUrl":"http://127.0.0.1:..." (@x402/svm: the mint and blockhash come from it),
//    "paymentIdentifier":"pay_..." (v2, optional: the payment-identifier extension)}
// answer: the body a resource server POSTs to /verify and /settle,
//   {"x402Version", "paymentPayload", "paymentRequirements"}.
//
// Facilitator job (the real facilitator clients parse our answers):
//   {"mode":"facilitator", "client":"@x402/core"|"x402", "url":"http://...",
//    "calls":["supported","verify","settle"], "body":{x402Version, paymentPayload, paymentRequirements}}
// answer: {"supported":..., "verify":..., "settle":...}; a call that throws
//   gives {"error": "<message>", "name": "<error class>"} in its place.
import { createPaymentHeader } from "x402/client";
import { createSigner } from "x402/types";
import { exact } from "x402/schemes";
import { useFacilitator } from "x402/verify";
import { x402Client } from "@x402/core/client";
import { HTTPFacilitatorClient } from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { ExactEvmSchemeV1 } from "@x402/evm/v1";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { toClientSvmSigner } from "@x402/svm";
import { PAYMENT_IDENTIFIER, declarePaymentIdentifierExtension, appendPaymentIdentifierToExtensions } from "@x402/extensions/payment-identifier";
import { privateKeyToAccount } from "viem/accounts";
import { createKeyPairSignerFromBytes, getBase58Encoder } from "@solana/kit";

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// x402 1.2.0: createPaymentHeader (exact.evm client), then the header decoded
// back into the paymentPayload object a resource server forwards.
async function payX402(job) {
  const signer = await createSigner(job.paymentRequirements.network, job.privateKey);
  const header = await createPaymentHeader(signer, job.x402Version, job.paymentRequirements);
  return exact.evm.decodePayment(header);
}

async function solanaSigner(key) {
  const bytes = key.trim().startsWith("[") ? Uint8Array.from(JSON.parse(key)) : getBase58Encoder().encode(key);
  return toClientSvmSigner(await createKeyPairSignerFromBytes(bytes));
}

// @x402/core's x402Client with a scheme of @x402/evm or @x402/svm registered
// for the requirement's network, asked to pay a PaymentRequired answer.
async function payCore(job) {
  const req = job.paymentRequirements;
  const client = new x402Client();
  client.setSpendControls(false); // the dev token is no known asset; amounts are the test's
  if (job.client === "@x402/evm") {
    const signer = toClientEvmSigner(privateKeyToAccount(job.privateKey));
    if (job.x402Version === 1) client.registerV1(req.network, new ExactEvmSchemeV1(signer));
    else client.register(req.network, new ExactEvmScheme(signer));
  } else if (job.client === "@x402/svm") {
    const signer = await solanaSigner(job.privateKey);
    client.register(req.network, new ExactSvmScheme(signer, { rpcUrl: job.rpcUrl }));
  } else {
    throw new Error(`unknown client ${job.client}`);
  }
  const paymentRequired = { x402Version: job.x402Version, error: "payment required", accepts: [req] };
  if (job.x402Version === 2) {
    paymentRequired.resource = job.resource ?? { url: "https://api.example/report", description: "report", mimeType: "application/json" };
    if (job.paymentIdentifier) {
      paymentRequired.extensions = { [PAYMENT_IDENTIFIER]: declarePaymentIdentifierExtension(false) };
      client.onBeforePaymentCreation(async ({ paymentRequired: pr }) => {
        appendPaymentIdentifierToExtensions(pr.extensions, job.paymentIdentifier);
      });
    }
  }
  return client.createPaymentPayload(paymentRequired);
}

async function pay(job) {
  const paymentPayload = job.client === "x402" ? await payX402(job) : await payCore(job);
  return { x402Version: job.x402Version, paymentPayload, paymentRequirements: job.paymentRequirements };
}

async function attempt(f) {
  try {
    return await f();
  } catch (e) {
    return { error: String(e?.message ?? e), name: e?.constructor?.name ?? "Error" };
  }
}

async function facilitator(job) {
  const { paymentPayload, paymentRequirements } = job.body;
  const fc = job.client === "x402" ? useFacilitator({ url: job.url }) : new HTTPFacilitatorClient({ url: job.url, timeoutMs: 30000 });
  const out = {};
  for (const call of job.calls) {
    if (call === "supported") out.supported = await attempt(() => (fc.getSupported ? fc.getSupported() : fc.supported()));
    else if (call === "verify") out.verify = await attempt(() => fc.verify(paymentPayload, paymentRequirements));
    else if (call === "settle") out.settle = await attempt(() => fc.settle(paymentPayload, paymentRequirements));
    else throw new Error(`unknown call ${call}`);
  }
  return out;
}

try {
  const job = await readStdin();
  const out = job.mode === "facilitator" ? await facilitator(job) : await pay(job);
  process.stdout.write(JSON.stringify(out, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
} catch (e) {
  process.stderr.write(`x402js: ${e?.stack ?? e}\n`);
  process.exit(1);
}
