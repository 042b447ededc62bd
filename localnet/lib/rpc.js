'use strict';
// The Solana JSON-RPC methods the localnet serves, in the request and answer shapes of a real node,
// plus two control methods for tests: localnet_advanceSlots (slots, and optionally block time) and
// localnet_manifest.

const wire = require('./wire');
const tokens = require('./tokens');
const { encodeAccount } = require('./chain');
const { RpcError, CODES, invalidParams } = require('./rpcerror');

const API_VERSION = '3.0.0';
const LAMPORTS_PER_SIGNATURE = 5000n;
const MAX_SIGNATURES = 256;
const MAX_MULTIPLE_ACCOUNTS = 100;
const MAX_SIGNATURES_FOR_ADDRESS = 1000;
const MAX_AIRDROP = 1_000_000n * 1_000_000_000n;

function config(params, i) {
  const c = params[i];
  if (c === undefined || c === null) return {};
  if (typeof c !== 'object' || Array.isArray(c)) throw invalidParams(`parameter ${i} must be a configuration object`);
  return c;
}

function pubkeyParam(params, i) {
  const v = params[i];
  if (typeof v !== 'string') throw invalidParams(`parameter ${i} must be a base58 public key string`);
  try {
    wire.decodePubkey(v);
  } catch (e) {
    throw invalidParams(e.message);
  }
  return v;
}

function decodeTx(encoded, encoding) {
  if (typeof encoded !== 'string') throw invalidParams('transaction must be an encoded string');
  let bytes;
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw invalidParams('invalid base64 encoding');
    bytes = Buffer.from(encoded, 'base64');
  } else if (encoding === 'base58' || encoding === undefined) {
    try {
      bytes = wire.b58decode(encoded);
    } catch (e) {
      throw invalidParams(`invalid base58 encoding: ${e.message}`);
    }
  } else {
    throw invalidParams(`unsupported encoding: ${encoding}. Supported encodings: base58, base64`);
  }
  if (bytes.length > 1232) throw invalidParams(`base64 encoded solana_transaction::versioned::VersionedTransaction too large: ${bytes.length} bytes (max: 1232 bytes)`);
  return bytes;
}

// feeForMessage computes a message's fee: 5000 lamports per signature plus the priority fee
// (compute unit price in micro-lamports times the compute unit limit).
function feeForMessage(p) {
  let limit = null;
  let price = 0n;
  let others = 0;
  for (const ix of p.instructions) {
    const program = wire.b58encode(p.accountKeys[ix.programIdIndex]);
    if (program !== tokens.COMPUTE_BUDGET_PROGRAM) { others++; continue; }
    const d = Buffer.from(ix.data);
    if (d[0] === 2 && d.length >= 5) limit = BigInt(d.readUInt32LE(1));
    if (d[0] === 3 && d.length >= 9) price = d.readBigUInt64LE(1);
  }
  if (limit === null) limit = BigInt(Math.min(1_400_000, 200_000 * others));
  const priority = (price * limit + 999_999n) / 1_000_000n;
  return LAMPORTS_PER_SIGNATURE * BigInt(p.header.numRequiredSignatures) + priority;
}

function makeMethods({ chain, faucet, manifest }) {
  const context = (slot) => ({ slot, apiVersion: API_VERSION });
  const ctxSlot = (c) => {
    const slot = chain.commitmentSlot(c.commitment);
    if (c.minContextSlot !== undefined && c.minContextSlot > slot) {
      throw new RpcError(-32016, 'Minimum context slot has not been reached', { contextSlot: slot });
    }
    return slot;
  };

  const txJSON = (rec, encoding) => {
    if (encoding === 'base64') return [rec.bytes.toString('base64'), 'base64'];
    if (encoding === 'base58') return [wire.b58encode(rec.bytes), 'base58'];
    const p = rec.parsed;
    const message = {
      header: p.header,
      accountKeys: p.accountKeys.map(wire.b58encode),
      recentBlockhash: wire.b58encode(p.blockhash),
      instructions: p.instructions.map((ix) => ({ programIdIndex: ix.programIdIndex, accounts: ix.accounts, data: wire.b58encode(ix.data), stackHeight: null })),
    };
    if (p.version === 0) {
      message.addressTableLookups = p.lookups.map((l) => ({ accountKey: wire.b58encode(l.accountKey), writableIndexes: l.writableIndexes, readonlyIndexes: l.readonlyIndexes }));
    }
    return { signatures: p.signatures.map(wire.b58encode), message };
  };

  return {
    getHealth: () => 'ok',
    getVersion: () => ({ 'solana-core': API_VERSION, 'feature-set': 0, litesvm: '1.5.0' }),
    getGenesisHash: () => chain.genesisHash,
    getIdentity: () => ({ identity: manifest.faucet.publicKey }),

    getSlot: (params) => ctxSlot(config(params, 0)),
    getBlockHeight: (params) => ctxSlot(config(params, 0)),
    getTransactionCount: () => chain.records.size,
    getEpochInfo: (params) => {
      const slot = ctxSlot(config(params, 0));
      return { absoluteSlot: slot, blockHeight: slot, epoch: Math.floor(slot / 432000), slotIndex: slot % 432000, slotsInEpoch: 432000, transactionCount: chain.records.size };
    },

    getLatestBlockhash: (params) => {
      const c = config(params, 0);
      ctxSlot(c);
      const lb = chain.latestBlockhash(c.commitment);
      return { context: context(lb.slot), value: { blockhash: lb.blockhash, lastValidBlockHeight: lb.lastValidBlockHeight } };
    },
    isBlockhashValid: (params) => {
      if (typeof params[0] !== 'string') throw invalidParams('parameter 0 must be a base58 blockhash string');
      const slot = ctxSlot(config(params, 1));
      return { context: context(slot), value: chain.isBlockhashValid(params[0]) };
    },

    getMinimumBalanceForRentExemption: (params) => {
      const len = params[0];
      if (!Number.isSafeInteger(len) || len < 0 || len > 10 * 1024 * 1024) throw invalidParams('data length must be an integer in [0, 10 MiB]');
      return chain.svm.minimumBalanceForRentExemption(BigInt(len));
    },

    getBalance: (params) => {
      const key = pubkeyParam(params, 0);
      const slot = ctxSlot(config(params, 1));
      const acc = chain.getAccount(key);
      return { context: context(slot), value: acc ? acc.lamports() : 0n };
    },
    getAccountInfo: (params) => {
      const key = pubkeyParam(params, 0);
      const c = config(params, 1);
      const slot = ctxSlot(c);
      const acc = chain.getAccount(key);
      return { context: context(slot), value: acc ? encodeAccount(acc, c.encoding || 'base64', c.dataSlice) : null };
    },
    getMultipleAccounts: (params) => {
      const keys = params[0];
      if (!Array.isArray(keys)) throw invalidParams('parameter 0 must be an array of public keys');
      if (keys.length > MAX_MULTIPLE_ACCOUNTS) throw invalidParams(`Too many inputs provided; max ${MAX_MULTIPLE_ACCOUNTS}`);
      const c = config(params, 1);
      const slot = ctxSlot(c);
      const value = keys.map((_, i) => {
        const acc = chain.getAccount(pubkeyParam(keys, i));
        return acc ? encodeAccount(acc, c.encoding || 'base64', c.dataSlice) : null;
      });
      return { context: context(slot), value };
    },
    getTokenAccountBalance: (params) => {
      const key = pubkeyParam(params, 0);
      const slot = ctxSlot(config(params, 1));
      const acc = chain.getAccount(key);
      if (!acc) throw invalidParams('could not find account');
      const tb = chain.tokenBalance(acc);
      if (!tb) throw invalidParams('not a Token account');
      return { context: context(slot), value: tb.uiTokenAmount };
    },

    getFeeForMessage: (params) => {
      if (typeof params[0] !== 'string') throw invalidParams('parameter 0 must be a base64 message');
      const slot = ctxSlot(config(params, 1));
      const msg = Buffer.from(params[0], 'base64');
      // Parse the message as a transaction carrying placeholder signatures.
      const nsig = msg[0] & 0x80 ? msg[1] : msg[0];
      if (!(nsig >= 1)) throw invalidParams('invalid message');
      const tx = Buffer.concat([Buffer.from([nsig]), Buffer.alloc(64 * nsig), msg]);
      const p = chain.parse(tx);
      return { context: context(slot), value: chain.isBlockhashValid(wire.b58encode(p.blockhash)) ? feeForMessage(p) : null };
    },

    sendTransaction: (params) => {
      const c = config(params, 1);
      const bytes = decodeTx(params[0], c.encoding);
      return chain.send(bytes, { skipPreflight: c.skipPreflight === true });
    },
    simulateTransaction: (params) => {
      const c = config(params, 1);
      const bytes = decodeTx(params[0], c.encoding);
      let accounts = null;
      if (c.accounts) {
        if (!Array.isArray(c.accounts.addresses)) throw invalidParams('accounts.addresses must be an array');
        c.accounts.addresses.forEach((_, i) => pubkeyParam(c.accounts.addresses, i));
        accounts = { addresses: c.accounts.addresses, encoding: c.accounts.encoding };
      }
      const value = chain.simulate(bytes, { sigVerify: c.sigVerify === true, replaceRecentBlockhash: c.replaceRecentBlockhash === true, accounts });
      return { context: context(chain.slot), value };
    },
    requestAirdrop: (params) => {
      const key = pubkeyParam(params, 0);
      const lamports = params[1];
      if (!Number.isSafeInteger(lamports) || lamports <= 0 || BigInt(lamports) > MAX_AIRDROP) {
        throw invalidParams(`lamports must be an integer in [1, ${MAX_AIRDROP}]`);
      }
      return faucet.airdrop(key, BigInt(lamports));
    },

    getSignatureStatuses: (params) => {
      const sigs = params[0];
      if (!Array.isArray(sigs)) throw invalidParams('parameter 0 must be an array of signatures');
      if (sigs.length > MAX_SIGNATURES) throw invalidParams(`Too many inputs provided; max ${MAX_SIGNATURES}`);
      const value = sigs.map((s) => {
        if (typeof s !== 'string') throw invalidParams('signatures must be base58 strings');
        const rec = chain.records.get(s);
        if (!rec) return null;
        const st = chain.status(rec);
        return { slot: rec.slot, confirmations: st.confirmations, err: rec.err, status: rec.err ? { Err: rec.err } : { Ok: null }, confirmationStatus: st.confirmationStatus };
      });
      return { context: context(chain.slot), value };
    },
    getSignaturesForAddress: (params) => {
      const address = pubkeyParam(params, 0);
      const c = config(params, 1);
      const commitment = c.commitment || 'finalized';
      if (commitment === 'processed' || commitment === 'recent') throw invalidParams('Method does not support commitment below `confirmed`');
      ctxSlot({ ...c, commitment });
      const limit = c.limit === undefined || c.limit === null ? MAX_SIGNATURES_FOR_ADDRESS : c.limit;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SIGNATURES_FOR_ADDRESS) throw invalidParams(`Invalid limit; max ${MAX_SIGNATURES_FOR_ADDRESS}`);
      for (const k of ['before', 'until']) {
        if (c[k] === undefined || c[k] === null) continue;
        let ok = typeof c[k] === 'string';
        try { ok = ok && wire.b58decode(c[k]).length === 64; } catch { ok = false; }
        if (!ok) throw invalidParams(`Invalid param: ${k} must be a base58 signature`);
      }
      const recs = chain.signaturesFor(address, { before: c.before ?? undefined, until: c.until ?? undefined, limit, commitment });
      return recs.map((rec) => ({
        signature: rec.signature,
        slot: rec.slot,
        err: rec.err,
        memo: null,
        blockTime: rec.blockTime,
        confirmationStatus: chain.status(rec).confirmationStatus,
      }));
    },
    getTransaction: (params) => {
      if (typeof params[0] !== 'string') throw invalidParams('parameter 0 must be a base58 signature');
      const c = typeof params[1] === 'string' ? { encoding: params[1] } : config(params, 1);
      const commitment = c.commitment || 'finalized';
      if (commitment === 'processed' || commitment === 'recent') throw invalidParams('Method does not support commitment below `confirmed`');
      chain.commitmentSlot(commitment);
      const encoding = c.encoding || 'json';
      if (!['json', 'base64', 'base58'].includes(encoding)) throw invalidParams(`unsupported encoding ${JSON.stringify(encoding)}; the localnet serves json, base64 and base58`);
      const rec = chain.records.get(params[0]);
      if (!rec || rec.pruned || !chain.reachedCommitment(rec, commitment)) return null;
      if (rec.version !== 'legacy' && c.maxSupportedTransactionVersion === undefined) {
        throw new RpcError(CODES.UNSUPPORTED_TX_VERSION, `Transaction version (${rec.version}) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0`);
      }
      return {
        slot: rec.slot,
        blockTime: rec.blockTime,
        version: rec.version,
        transaction: txJSON(rec, encoding),
        meta: {
          err: rec.err,
          status: rec.err ? { Err: rec.err } : { Ok: null },
          fee: rec.fee,
          preBalances: rec.preBalances,
          postBalances: rec.postBalances,
          innerInstructions: rec.innerInstructions,
          logMessages: rec.logs,
          preTokenBalances: rec.preTokenBalances,
          postTokenBalances: rec.postTokenBalances,
          rewards: [],
          loadedAddresses: rec.loaded,
          computeUnitsConsumed: rec.unitsConsumed,
        },
      };
    },

    // Control methods (not part of Solana's API).
    localnet_advanceSlots: (params) => {
      const n = Array.isArray(params) ? params[0] : params && params.n;
      const seconds = Array.isArray(params) ? params[1] : params && params.seconds;
      return { slot: chain.advance(n === undefined ? 1 : n, seconds === undefined ? 0 : seconds) };
    },
    localnet_manifest: () => manifest,
  };
}

module.exports = { makeMethods, feeForMessage };
