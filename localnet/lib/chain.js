'use strict';
// Chain wraps one LiteSVM instance with what a real cluster has and LiteSVM lacks: slots that advance,
// blockhashes that stay valid for a number of slots and then expire, commitment levels that follow the
// slot, duplicate detection, and a record of every landed transaction (slot, block time, fee, balances
// and token balances before and after), since LiteSVM results carry none of these.

const { LiteSvm, Account, FailedTransactionMetadata } = require('litesvm/dist/internal');
const wire = require('./wire');
const txerror = require('./txerror');
const tokens = require('./tokens');
const { RpcError, CODES, invalidParams } = require('./rpcerror');
const { sha256 } = require('./keys');

const U64_MAX = 18446744073709551615n;
const LOOKUP_TABLE_META_SIZE = 56;
const TOKEN_PROGRAM_BYTES = wire.decodePubkey(tokens.TOKEN_PROGRAM);
const TOKEN_2022_PROGRAM_BYTES = wire.decodePubkey(tokens.TOKEN_2022_PROGRAM);

class Chain {
  constructor({ blockhashExpiry = 150, finalityDepth = 32, history = 100_000, genesisSeed = 'h402-localnet genesis v1' } = {}) {
    if (!(blockhashExpiry >= 1) || !(finalityDepth >= 1)) throw new Error('blockhashExpiry and finalityDepth must be >= 1');
    this.blockhashExpiry = blockhashExpiry;
    this.finalityDepth = finalityDepth;
    this.svm = new LiteSvm();
    // The front checks blockhash age and duplicates itself (LiteSVM accepts only its latest blockhash).
    this.svm.setBlockhashCheck(false);
    this.svm.setTransactionHistory(0n);
    this.genesisBytes = sha256(genesisSeed);
    this.genesisHash = wire.b58encode(this.genesisBytes);
    this.slot = 0;
    this.slotTime = Math.floor(Date.now() / 1000);
    this.blockhashes = new Map(); // base58 blockhash -> slot it was produced in
    this.records = new Map(); // base58 signature -> landed transaction record
    // Only the newest `history` records keep their details (bytes, balances, logs) for getTransaction;
    // older ones keep slot and error, so statuses and duplicate detection never forget a signature.
    this.history = history;
    this.detailed = [];
    this.detailedHead = 0;
    this.decimals = new Map(); // mint -> decimals (immutable once initialized)
    // base58 address -> signatures of the landed transactions that loaded it, oldest first
    // (getSignaturesForAddress); kept for every record, pruned or not.
    this.byAddress = new Map();
    this.syncClock();
  }

  syncClock() {
    this.svm.warpToSlot(BigInt(this.slot));
    const clock = this.svm.getClock();
    clock.unixTimestamp = BigInt(this.slotTime);
    this.svm.setClock(clock);
  }

  // advance moves the chain n slots forward; blockhashes older than the expiry stop being valid.
  // seconds moves the block time of the new slot that much past the previous slot's (a test's way
  // to make block times differ without waiting); the block time never falls behind the wall clock.
  advance(n = 1, seconds = 0) {
    if (!Number.isSafeInteger(n) || n < 0 || n > 1e9) throw invalidParams(`slot count must be an integer in [0, 1e9] (got ${n})`);
    if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > 1e9) throw invalidParams(`seconds must be an integer in [0, 1e9] (got ${seconds})`);
    if (seconds > 0 && n === 0) throw invalidParams('the block time moves only with a new slot: advance at least 1 slot');
    if (n === 0) return this.slot;
    this.slot += n;
    this.slotTime = Math.max(this.slotTime + seconds, Math.floor(Date.now() / 1000));
    this.syncClock();
    if (this.blockhashes.size > 2 * this.blockhashExpiry + 64) {
      for (const [hash, s] of this.blockhashes) if (s + this.blockhashExpiry < this.slot) this.blockhashes.delete(hash);
    }
    return this.slot;
  }

  // commitmentLag is how many slots the commitment trails the newest slot.
  commitmentLag(commitment) {
    switch (commitment === undefined || commitment === null ? 'finalized' : commitment) {
      case 'processed': case 'recent':
        return 0;
      case 'confirmed': case 'single': case 'singleGossip':
        return 1;
      case 'finalized': case 'root': case 'max':
        return this.finalityDepth;
      default:
        throw invalidParams(`unknown commitment ${JSON.stringify(commitment)}`);
    }
  }

  // commitmentSlot is the newest slot that has reached the commitment (genesis at the earliest).
  commitmentSlot(commitment) {
    return Math.max(0, this.slot - this.commitmentLag(commitment));
  }

  blockhashOf(slot) {
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(BigInt(slot));
    const hash = wire.b58encode(sha256(this.genesisBytes, le));
    this.blockhashes.set(hash, slot);
    return hash;
  }

  latestBlockhash(commitment) {
    const slot = this.commitmentSlot(commitment);
    return { slot, blockhash: this.blockhashOf(slot), lastValidBlockHeight: slot + this.blockhashExpiry };
  }

  isBlockhashValid(hash) {
    const s = this.blockhashes.get(hash);
    return s !== undefined && this.slot <= s + this.blockhashExpiry;
  }

  // status reports a landed transaction's commitment as the slots advance past it.
  status(rec) {
    const age = this.slot - rec.slot;
    if (age >= this.finalityDepth) return { confirmationStatus: 'finalized', confirmations: null };
    return { confirmationStatus: age >= 1 ? 'confirmed' : 'processed', confirmations: age };
  }

  reachedCommitment(rec, commitment) {
    return rec.slot <= this.slot - this.commitmentLag(commitment);
  }

  getAccount(key) {
    const bytes = typeof key === 'string' ? wire.decodePubkey(key) : key;
    return this.svm.getAccount(bytes);
  }

  setAccount(key, { lamports, data = Buffer.alloc(0), owner = tokens.SYSTEM_PROGRAM, executable = false }) {
    this.svm.setAccount(wire.decodePubkey(key), new Account(BigInt(lamports), data, wire.decodePubkey(owner), executable, U64_MAX));
  }

  mintDecimals(mint) {
    let d = this.decimals.get(mint);
    if (d === undefined) {
      const acc = this.getAccount(mint);
      d = acc ? tokens.parseMintDecimals(wire.b58encode(acc.owner()), acc.data()) : null;
      if (d === null) return 0;
      this.decimals.set(mint, d);
    }
    return d;
  }

  // tokenBalance returns the uiTokenAmount-style balance of a token account, or null. It reads the
  // owner first: copying an executable program's data on every snapshot was most of the send cost.
  tokenBalance(acc) {
    if (!acc || acc.executable()) return null;
    const owner = Buffer.from(acc.owner());
    const programId = owner.equals(TOKEN_PROGRAM_BYTES) ? tokens.TOKEN_PROGRAM : owner.equals(TOKEN_2022_PROGRAM_BYTES) ? tokens.TOKEN_2022_PROGRAM : null;
    if (!programId) return null;
    const ta = tokens.parseTokenAccount(programId, acc.data());
    if (!ta) return null;
    return { ...ta, programId, uiTokenAmount: tokens.uiAmount(ta.amount, this.mintDecimals(ta.mint)) };
  }

  snapshot(keys) {
    const lamports = [];
    const tokenBalances = [];
    for (let i = 0; i < keys.length; i++) {
      const acc = this.svm.getAccount(keys[i]);
      lamports.push(acc ? acc.lamports() : 0n);
      const tb = this.tokenBalance(acc);
      if (tb) tokenBalances.push({ accountIndex: i, mint: tb.mint, owner: tb.owner, programId: tb.programId, uiTokenAmount: tb.uiTokenAmount });
    }
    return { lamports, tokenBalances };
  }

  parse(bytes) {
    try {
      return wire.parseTransaction(bytes);
    } catch (e) {
      if (e instanceof wire.WireError) throw invalidParams(`invalid transaction: ${e.message}`);
      throw e;
    }
  }

  // resolveKeys returns all account keys of a transaction: static keys, then the writable and the
  // readonly keys loaded from address lookup tables. It returns {err} when a table cannot be read.
  resolveKeys(p) {
    const writable = [];
    const readonly = [];
    for (const l of p.lookups) {
      const acc = this.svm.getAccount(l.accountKey);
      if (!acc) return { err: 'AddressLookupTableNotFound' };
      const data = acc.data();
      const n = Math.floor((data.length - LOOKUP_TABLE_META_SIZE) / 32);
      const at = (i) => {
        if (i >= n) return null;
        const off = LOOKUP_TABLE_META_SIZE + 32 * i;
        return Buffer.from(data.subarray(off, off + 32));
      };
      for (const i of l.writableIndexes) { const k = at(i); if (!k) return { err: 'InvalidAddressLookupTableIndex' }; writable.push(k); }
      for (const i of l.readonlyIndexes) { const k = at(i); if (!k) return { err: 'InvalidAddressLookupTableIndex' }; readonly.push(k); }
    }
    return { keys: [...p.accountKeys, ...writable, ...readonly], writable, readonly };
  }

  execute(p, bytes, simulate) {
    if (p.version === 'legacy') return simulate ? this.svm.simulateLegacyTransaction(bytes) : this.svm.sendLegacyTransaction(bytes);
    return simulate ? this.svm.simulateVersionedTransaction(bytes) : this.svm.sendVersionedTransaction(bytes);
  }

  // simulate runs a transaction without changing state. It answers the RPC's simulateTransaction value.
  simulate(bytes, { sigVerify = false, replaceRecentBlockhash = false, accounts = null } = {}) {
    if (sigVerify && replaceRecentBlockhash) throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    let p = this.parse(bytes);
    const sig = wire.b58encode(p.signatures[0]);
    let replacementBlockhash;
    if (replaceRecentBlockhash) {
      const lb = this.latestBlockhash('processed');
      bytes = Buffer.from(bytes);
      wire.decodePubkey(lb.blockhash).copy(bytes, p.blockhashOffset);
      p = this.parse(bytes);
      replacementBlockhash = { blockhash: lb.blockhash, lastValidBlockHeight: lb.lastValidBlockHeight };
    }
    const value = (err, meta, post) => ({
      err,
      logs: meta ? meta.logs() : [],
      accounts: accounts ? this.encodeSimAccounts(accounts, post) : null,
      unitsConsumed: meta ? meta.computeUnitsConsumed() : 0n,
      returnData: meta ? returnDataJSON(meta.returnData()) : null,
      innerInstructions: null,
      ...(replacementBlockhash ? { replacementBlockhash } : {}),
    });
    if (!replaceRecentBlockhash && this.records.has(sig)) return value('AlreadyProcessed');
    if (!this.isBlockhashValid(wire.b58encode(p.blockhash))) return value('BlockhashNotFound');
    const resolved = this.resolveKeys(p);
    if (resolved.err) return value(resolved.err);
    this.svm.setSigverify(sigVerify);
    let res;
    try {
      res = this.execute(p, bytes, true);
    } finally {
      this.svm.setSigverify(true);
    }
    if (res instanceof FailedTransactionMetadata) {
      const err = txerror.toJSON(res.err());
      if (sigVerify && err === 'SignatureFailure') throw sigVerifyFailure();
      return value(err, res.meta());
    }
    return value(null, res.meta(), res.postAccounts());
  }

  encodeSimAccounts(req, post) {
    const byAddr = new Map();
    for (const a of post || []) byAddr.set(wire.b58encode(a.address), a.account());
    return req.addresses.map((addr) => {
      const acc = byAddr.has(addr) ? byAddr.get(addr) : this.getAccount(addr);
      return acc ? encodeAccount(acc, req.encoding || 'base64') : null;
    });
  }

  // send executes a transaction and records it. Preflight (unless skipped) simulates it first.
  // Rejections come as RpcError in the shape of a Solana node's sendTransaction errors.
  send(bytes, { skipPreflight = false } = {}) {
    const p = this.parse(bytes);
    const sig = wire.b58encode(p.signatures[0]);
    const reject = (err, meta) => new RpcError(
      CODES.SEND_TX_PREFLIGHT_FAILURE,
      `${skipPreflight ? 'Transaction rejected' : 'Transaction simulation failed'}: ${txerror.message(err)}`,
      {
        err,
        logs: meta ? meta.logs() : [],
        accounts: null,
        unitsConsumed: meta ? meta.computeUnitsConsumed() : 0n,
        returnData: null,
        innerInstructions: null,
      },
    );
    if (this.records.has(sig)) throw reject('AlreadyProcessed');
    if (!this.isBlockhashValid(wire.b58encode(p.blockhash))) throw reject('BlockhashNotFound');
    const resolved = this.resolveKeys(p);
    if (resolved.err) throw reject(resolved.err);
    if (!skipPreflight) {
      const sim = this.execute(p, bytes, true);
      if (sim instanceof FailedTransactionMetadata) {
        const err = txerror.toJSON(sim.err());
        if (err === 'SignatureFailure') throw sigVerifyFailure();
        throw reject(err, sim.meta());
      }
    }
    const keys = resolved.keys;
    const pre = this.snapshot(keys);
    const res = this.execute(p, bytes, false);
    const post = this.snapshot(keys);
    // LiteSVM credits the fee to no account, so the lamports the transaction's accounts lost in total
    // are exactly its fee. A transaction that lost nothing was not committed at all.
    let fee = 0n;
    for (let i = 0; i < keys.length; i++) fee += pre.lamports[i] - post.lamports[i];
    let err = null;
    const failed = res instanceof FailedTransactionMetadata;
    const meta = failed ? res.meta() : res;
    if (failed) {
      err = txerror.toJSON(res.err());
      if (fee <= 0n) {
        if (err === 'SignatureFailure') throw sigVerifyFailure();
        throw reject(err, meta);
      }
    }
    this.records.set(sig, {
      signature: sig,
      slot: this.slot,
      blockTime: this.slotTime,
      version: p.version,
      bytes: Buffer.from(bytes),
      parsed: p,
      loaded: { writable: resolved.writable.map(wire.b58encode), readonly: resolved.readonly.map(wire.b58encode) },
      err,
      fee,
      preBalances: pre.lamports,
      postBalances: post.lamports,
      preTokenBalances: pre.tokenBalances,
      postTokenBalances: post.tokenBalances,
      logs: meta.logs(),
      unitsConsumed: meta.computeUnitsConsumed(),
      innerInstructions: innerJSON(meta.innerInstructions()),
    });
    this.index(sig, keys);
    this.pruneHistory(sig);
    return sig;
  }

  // index records sig under every account it loaded.
  index(sig, keys) {
    const seen = new Set();
    for (const k of keys) {
      const addr = wire.b58encode(k);
      if (seen.has(addr)) continue;
      seen.add(addr);
      let list = this.byAddress.get(addr);
      if (!list) this.byAddress.set(addr, (list = []));
      list.push(sig);
    }
  }

  // signaturesFor lists the records of transactions that loaded address and reached the commitment,
  // newest first, as getSignaturesForAddress does: starting below `before` (exclusive; an unknown
  // `before` gives nothing), stopping at `until` (exclusive), at most `limit`.
  signaturesFor(address, { before, until, limit, commitment }) {
    const list = this.byAddress.get(address) || [];
    let i = list.length - 1;
    if (before !== undefined) i = list.lastIndexOf(before) - 1;
    if (before !== undefined && i === -2) return [];
    const out = [];
    for (; i >= 0 && out.length < limit; i--) {
      if (list[i] === until) break;
      const rec = this.records.get(list[i]);
      if (this.reachedCommitment(rec, commitment)) out.push(rec);
    }
    return out;
  }

  pruneHistory(sig) {
    this.detailed.push(sig);
    while (this.detailed.length - this.detailedHead > this.history) {
      const old = this.records.get(this.detailed[this.detailedHead++]);
      this.records.set(old.signature, { signature: old.signature, slot: old.slot, blockTime: old.blockTime, err: old.err, pruned: true });
    }
    if (this.detailedHead > 65536) {
      this.detailed = this.detailed.slice(this.detailedHead);
      this.detailedHead = 0;
    }
  }
}

function sigVerifyFailure() {
  return new RpcError(CODES.SIGNATURE_VERIFICATION_FAILURE, 'Transaction signature verification failure');
}

function returnDataJSON(rd) {
  if (!rd) return null;
  const data = rd.data();
  if (!data || data.length === 0) return null;
  return { programId: wire.b58encode(rd.programId()), data: [Buffer.from(data).toString('base64'), 'base64'] };
}

function innerJSON(groups) {
  const out = [];
  groups.forEach((ixs, index) => {
    if (!ixs || ixs.length === 0) return;
    out.push({
      index,
      instructions: ixs.map((inner) => {
        const ix = inner.instruction();
        return {
          programIdIndex: ix.programIdIndex(),
          accounts: Array.from(ix.accounts()),
          data: wire.b58encode(ix.data()),
          stackHeight: inner.stackHeight(),
        };
      }),
    });
  });
  return out;
}

// encodeAccount renders an account as getAccountInfo does.
function encodeAccount(acc, encoding, dataSlice) {
  let data = Buffer.from(acc.data());
  const space = data.length;
  if (dataSlice) data = data.subarray(dataSlice.offset, dataSlice.offset + dataSlice.length);
  let encoded;
  switch (encoding) {
    case 'base58': case 'binary':
      if (data.length > 128) throw invalidParams('encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.');
      encoded = encoding === 'binary' ? wire.b58encode(data) : [wire.b58encode(data), 'base58'];
      break;
    case 'base64': case 'jsonParsed': // no parsers here: jsonParsed falls back to base64, as a node does without a parser
      encoded = [data.toString('base64'), 'base64'];
      break;
    default:
      throw invalidParams(`unsupported encoding ${JSON.stringify(encoding)}`);
  }
  return {
    lamports: acc.lamports(),
    owner: wire.b58encode(acc.owner()),
    data: encoded,
    executable: acc.executable(),
    rentEpoch: acc.rentEpoch(),
    space,
  };
}

module.exports = { Chain, encodeAccount };
