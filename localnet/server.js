#!/usr/bin/env node
'use strict';
// Local Solana JSON-RPC 2.0 server over LiteSVM, for tests and development only.
//
//   node server.js [--host ADDR] [--port N] [--slot-ms MS] [--blockhash-expiry SLOTS] [--finality-depth SLOTS]
//                  [--payers N] [--fee-payers N] [--history N] [--manifest FILE] [--exit-on-stdin-eof 1]
//
// Listens on 127.0.0.1 unless --host says otherwise (a container network: 0.0.0.0). --port 0 picks a free port. The first line on stdout is the manifest
// (one JSON object: RPC URL, mints, dev keypairs); --manifest also writes it to FILE. Every flag has an
// environment variable: LOCALNET_PORT, LOCALNET_SLOT_MS, LOCALNET_BLOCKHASH_EXPIRY,
// LOCALNET_FINALITY_DEPTH, LOCALNET_PAYERS, LOCALNET_FEE_PAYERS, LOCALNET_HISTORY, LOCALNET_MANIFEST,
// LOCALNET_EXIT_ON_STDIN_EOF. --slot-ms 0 advances slots only through localnet_advanceSlots.

const http = require('node:http');
const fs = require('node:fs');
const { Chain } = require('./lib/chain');
const { createGenesis } = require('./lib/genesis');
const { Faucet } = require('./lib/faucet');
const { makeMethods } = require('./lib/rpc');
const { RpcError, CODES } = require('./lib/rpcerror');

const MAX_BODY = 8 * 1024 * 1024;

const FLAGS = {
  port: { env: 'LOCALNET_PORT', def: '8899', int: true },
  // The address to listen on: loopback unless a container network needs another (0.0.0.0).
  host: { env: 'LOCALNET_HOST', def: '127.0.0.1' },
  'slot-ms': { env: 'LOCALNET_SLOT_MS', def: '400', int: true },
  'blockhash-expiry': { env: 'LOCALNET_BLOCKHASH_EXPIRY', def: '150', int: true },
  'finality-depth': { env: 'LOCALNET_FINALITY_DEPTH', def: '32', int: true },
  payers: { env: 'LOCALNET_PAYERS', def: '4', int: true },
  'fee-payers': { env: 'LOCALNET_FEE_PAYERS', def: '2', int: true },
  history: { env: 'LOCALNET_HISTORY', def: '100000', int: true },
  manifest: { env: 'LOCALNET_MANIFEST', def: '' },
  // 1: exit when standard input closes, so a parent that dies (a crashed test) takes the server along.
  'exit-on-stdin-eof': { env: 'LOCALNET_EXIT_ON_STDIN_EOF', def: '0', int: true },
};

function parseFlags(argv, env) {
  const out = {};
  for (const [name, f] of Object.entries(FLAGS)) out[name] = env[f.env] !== undefined ? env[f.env] : f.def;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stderr.write(`usage: node server.js ${Object.keys(FLAGS).map((n) => `[--${n} V]`).join(' ')}\n`);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(a)}`);
    a = a.slice(2);
    let v;
    const eq = a.indexOf('=');
    if (eq >= 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    } else {
      v = argv[++i];
    }
    if (!(a in FLAGS)) throw new Error(`unknown flag --${a}`);
    if (v === undefined) throw new Error(`flag --${a} needs a value`);
    out[a] = v;
  }
  for (const [name, f] of Object.entries(FLAGS)) {
    if (!f.int) continue;
    const n = Number(out[name]);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer (got ${JSON.stringify(out[name])})`);
    out[name] = n;
  }
  if (out.port > 65535) throw new Error(`--port must be at most 65535 (got ${out.port})`);
  return out;
}

// stringify writes JSON with BigInt values as plain JSON numbers (lamports and u64s exceed 2^53).
function stringify(v) {
  let big = false;
  const s = JSON.stringify(v, (_, x) => {
    if (typeof x !== 'bigint') return x;
    if (x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(x);
    big = true;
    return `\u0000bigint:${x}`;
  });
  return big ? s.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : s;
}

function errorObject(e) {
  if (e instanceof RpcError) {
    const o = { code: e.code, message: e.message };
    if (e.data !== undefined) o.data = e.data;
    return o;
  }
  process.stderr.write(`localnet: internal error: ${e && e.stack ? e.stack : e}\n`);
  return { code: CODES.INTERNAL, message: `Internal error: ${e && e.message ? e.message : e}` };
}

function handleOne(methods, req) {
  const id = req && typeof req === 'object' && 'id' in req ? req.id : null;
  if (!req || typeof req !== 'object' || Array.isArray(req) || req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
    return { jsonrpc: '2.0', id, error: { code: CODES.INVALID_REQUEST, message: 'Invalid request' } };
  }
  const fn = Object.prototype.hasOwnProperty.call(methods, req.method) ? methods[req.method] : null;
  if (!fn) return { jsonrpc: '2.0', id, error: { code: CODES.METHOD_NOT_FOUND, message: `Method not found: ${req.method}` } };
  try {
    const params = req.params === undefined || req.params === null ? [] : req.params;
    return { jsonrpc: '2.0', id, result: fn(params) };
  } catch (e) {
    return { jsonrpc: '2.0', id, error: errorObject(e) };
  }
}

function handleBody(methods, body) {
  let req;
  try {
    req = JSON.parse(body);
  } catch {
    return { jsonrpc: '2.0', id: null, error: { code: CODES.PARSE, message: 'Parse error' } };
  }
  if (Array.isArray(req)) {
    if (req.length === 0) return { jsonrpc: '2.0', id: null, error: { code: CODES.INVALID_REQUEST, message: 'Invalid request: empty batch' } };
    return req.map((r) => handleOne(methods, r));
  }
  return handleOne(methods, req);
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), process.env);
  const chain = new Chain({ blockhashExpiry: flags['blockhash-expiry'], finalityDepth: flags['finality-depth'], history: flags.history });
  const genesis = await createGenesis(chain, { payers: flags.payers, feePayers: flags['fee-payers'] });
  const faucet = new Faucet(chain, genesis.faucet);
  const manifest = { rpcUrl: '', slotPeriodMs: flags['slot-ms'], ...genesis.manifest };
  const methods = makeMethods({ chain, faucet, manifest });

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' });
      res.end();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413);
        res.end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      const out = stringify(handleBody(methods, Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 60_000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(flags.port, flags.host, resolve);
  });
  manifest.rpcUrl = `http://${flags.host === '0.0.0.0' ? '127.0.0.1' : flags.host}:${server.address().port}`;
  const line = JSON.stringify(manifest);
  if (flags.manifest) fs.writeFileSync(flags.manifest, `${line}\n`, { mode: 0o600 });
  process.stdout.write(`${line}\n`);
  process.stderr.write(`localnet: listening on ${manifest.rpcUrl} (slot period ${flags['slot-ms']} ms${flags['slot-ms'] === 0 ? ', manual' : ''})\n`);

  let ticker = null;
  if (flags['slot-ms'] > 0) ticker = setInterval(() => chain.advance(1), flags['slot-ms']);

  const stop = () => {
    if (ticker) clearInterval(ticker);
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (flags['exit-on-stdin-eof'] === 1) {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
}

main().catch((e) => {
  process.stderr.write(`localnet: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
