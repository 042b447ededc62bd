'use strict';
// Solana wire format: base58, compact-u16 ("shortvec") and a transaction parser for legacy and v0
// messages. Only what the JSON-RPC front needs: signatures, account keys, blockhash (with its byte
// offset, so simulateTransaction can replace it), instructions and address-table lookups.

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const ALPHABET_MAP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) ALPHABET_MAP[ALPHABET.charCodeAt(i)] = i;

class WireError extends Error {}

function b58encode(bytes) {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  // Base-58 digits, little-endian, computed by repeated multiply-add.
  const digits = [];
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i];
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j] << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let out = '1'.repeat(zeros);
  for (let i = digits.length - 1; i >= 0; i--) out += ALPHABET[digits[i]];
  return out;
}

function b58decode(str) {
  if (typeof str !== 'string') throw new WireError('base58: not a string');
  let zeros = 0;
  while (zeros < str.length && str[zeros] === '1') zeros++;
  const bytes = [];
  for (let i = zeros; i < str.length; i++) {
    const c = str.charCodeAt(i);
    const v = c < 128 ? ALPHABET_MAP[c] : -1;
    if (v < 0) throw new WireError(`base58: invalid character ${JSON.stringify(str[i])}`);
    let carry = v;
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j] * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  const out = Buffer.alloc(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i++) out[out.length - 1 - i] = bytes[i];
  return out;
}

// decodePubkey decodes a base58 address and insists on 32 bytes.
function decodePubkey(str) {
  const b = b58decode(str);
  if (b.length !== 32) throw new WireError(`invalid public key ${JSON.stringify(str)}: ${b.length} bytes, want 32`);
  return b;
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.off = 0;
  }
  need(n, what) {
    if (this.off + n > this.buf.length) throw new WireError(`transaction truncated reading ${what}`);
  }
  u8(what) {
    this.need(1, what);
    return this.buf[this.off++];
  }
  shortvec(what) {
    let len = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.u8(what);
      len |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return len;
    }
    throw new WireError(`invalid compact-u16 for ${what}`);
  }
  bytes(n, what) {
    this.need(n, what);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
}

// parseTransaction decodes a wire transaction. It throws WireError on malformed input.
function parseTransaction(buf) {
  const r = new Reader(buf);
  const nsig = r.shortvec('signature count');
  if (nsig === 0) throw new WireError('transaction has no signatures');
  const signatures = [];
  for (let i = 0; i < nsig; i++) signatures.push(r.bytes(64, 'signature'));
  const messageOffset = r.off;
  let version = 'legacy';
  const first = r.u8('message header');
  let numRequiredSignatures = first;
  if (first & 0x80) {
    version = first & 0x7f;
    if (version !== 0) throw new WireError(`unsupported transaction version ${version}`);
    numRequiredSignatures = r.u8('message header');
  }
  const numReadonlySigned = r.u8('message header');
  const numReadonlyUnsigned = r.u8('message header');
  const nkeys = r.shortvec('account key count');
  const accountKeys = [];
  for (let i = 0; i < nkeys; i++) accountKeys.push(r.bytes(32, 'account key'));
  const blockhashOffset = r.off;
  const blockhash = r.bytes(32, 'recent blockhash');
  const nix = r.shortvec('instruction count');
  const instructions = [];
  for (let i = 0; i < nix; i++) {
    const programIdIndex = r.u8('program id index');
    const nacc = r.shortvec('instruction account count');
    const accounts = Array.from(r.bytes(nacc, 'instruction accounts'));
    const ndata = r.shortvec('instruction data length');
    const data = r.bytes(ndata, 'instruction data');
    instructions.push({ programIdIndex, accounts, data });
  }
  const lookups = [];
  if (version === 0) {
    const nl = r.shortvec('address table lookup count');
    for (let i = 0; i < nl; i++) {
      const accountKey = r.bytes(32, 'lookup table key');
      const nw = r.shortvec('writable index count');
      const writableIndexes = Array.from(r.bytes(nw, 'writable indexes'));
      const nr = r.shortvec('readonly index count');
      const readonlyIndexes = Array.from(r.bytes(nr, 'readonly indexes'));
      lookups.push({ accountKey, writableIndexes, readonlyIndexes });
    }
  }
  if (r.off !== buf.length) throw new WireError(`${buf.length - r.off} trailing bytes after transaction`);
  if (numRequiredSignatures !== nsig) {
    throw new WireError(`transaction has ${nsig} signatures but its message requires ${numRequiredSignatures}`);
  }
  if (nkeys < numRequiredSignatures || numReadonlySigned >= numRequiredSignatures) {
    throw new WireError('invalid message header');
  }
  for (const ix of instructions) {
    if (ix.programIdIndex >= nkeys) throw new WireError('instruction program id index out of range');
  }
  return {
    version,
    signatures,
    message: buf.subarray(messageOffset),
    header: { numRequiredSignatures, numReadonlySignedAccounts: numReadonlySigned, numReadonlyUnsignedAccounts: numReadonlyUnsigned },
    accountKeys,
    blockhash,
    blockhashOffset,
    instructions,
    lookups,
  };
}

// isWritableStatic tells whether static key i of a parsed message is writable.
function isWritableStatic(p, i) {
  const h = p.header;
  const nkeys = p.accountKeys.length;
  if (i < h.numRequiredSignatures) return i < h.numRequiredSignatures - h.numReadonlySignedAccounts;
  return i < nkeys - h.numReadonlyUnsignedAccounts;
}

module.exports = { WireError, b58encode, b58decode, decodePubkey, parseTransaction, isWritableStatic };
