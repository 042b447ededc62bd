'use strict';
// SPL Token / Token-2022 account layouts: parsing token accounts for balances, and building mint and
// token account data for the genesis state.

const { b58encode, decodePubkey } = require('./wire');

const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
const ASSOCIATED_TOKEN_PROGRAM = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';
const SYSTEM_PROGRAM = '11111111111111111111111111111111';
const COMPUTE_BUDGET_PROGRAM = 'ComputeBudget111111111111111111111111111111';
const MEMO_PROGRAM = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';

const MINT_LEN = 82;
const ACCOUNT_LEN = 165;
const ACCOUNT_TYPE_ACCOUNT = 2;
const EXT_IMMUTABLE_OWNER = 7;

function isTokenProgram(owner) {
  return owner === TOKEN_PROGRAM || owner === TOKEN_2022_PROGRAM;
}

// parseTokenAccount returns {mint, owner, amount} for an initialized token account, else null.
function parseTokenAccount(programId, data) {
  if (!isTokenProgram(programId) || data.length < ACCOUNT_LEN) return null;
  if (data.length > ACCOUNT_LEN) {
    // Token-2022 accounts with extensions carry the account type right after the base layout.
    if (programId !== TOKEN_2022_PROGRAM || data[ACCOUNT_LEN] !== ACCOUNT_TYPE_ACCOUNT) return null;
  }
  const state = data[108];
  if (state === 0) return null;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  return {
    mint: b58encode(buf.subarray(0, 32)),
    owner: b58encode(buf.subarray(32, 64)),
    amount: buf.readBigUInt64LE(64),
  };
}

// parseMintDecimals returns the decimals of an initialized mint account, else null.
function parseMintDecimals(programId, data) {
  if (!isTokenProgram(programId) || data.length < MINT_LEN) return null;
  if (data[45] !== 1) return null;
  return data[44];
}

// uiAmount renders a base-unit amount as the RPC's uiTokenAmount object.
function uiAmount(amount, decimals) {
  const s = amount.toString();
  let str;
  if (decimals === 0) {
    str = s;
  } else {
    const padded = s.padStart(decimals + 1, '0');
    const whole = padded.slice(0, padded.length - decimals);
    const frac = padded.slice(padded.length - decimals).replace(/0+$/, '');
    str = frac ? `${whole}.${frac}` : whole;
  }
  return {
    amount: s,
    decimals,
    uiAmount: amount === 0n ? null : Number(str),
    uiAmountString: str,
  };
}

function coption(buf, off, keyB58) {
  if (keyB58) {
    buf.writeUInt32LE(1, off);
    decodePubkey(keyB58).copy(buf, off + 4);
  }
}

// mintData builds an initialized mint (no extensions) with the given authority and supply.
function mintData({ mintAuthority, supply, decimals, freezeAuthority }) {
  const buf = Buffer.alloc(MINT_LEN);
  coption(buf, 0, mintAuthority);
  buf.writeBigUInt64LE(BigInt(supply), 36);
  buf[44] = decimals;
  buf[45] = 1;
  coption(buf, 46, freezeAuthority);
  return buf;
}

// tokenAccountData builds an initialized token account. Token-2022 accounts get the ImmutableOwner
// extension, as the associated token account program gives them.
function tokenAccountData({ programId, mint, owner, amount }) {
  const len = programId === TOKEN_2022_PROGRAM ? ACCOUNT_LEN + 1 + 4 : ACCOUNT_LEN;
  const buf = Buffer.alloc(len);
  decodePubkey(mint).copy(buf, 0);
  decodePubkey(owner).copy(buf, 32);
  buf.writeBigUInt64LE(BigInt(amount), 64);
  buf[108] = 1; // AccountState::Initialized
  if (programId === TOKEN_2022_PROGRAM) {
    buf[ACCOUNT_LEN] = ACCOUNT_TYPE_ACCOUNT;
    buf.writeUInt16LE(EXT_IMMUTABLE_OWNER, ACCOUNT_LEN + 1);
    buf.writeUInt16LE(0, ACCOUNT_LEN + 3);
  }
  return buf;
}

module.exports = {
  TOKEN_PROGRAM, TOKEN_2022_PROGRAM, ASSOCIATED_TOKEN_PROGRAM, SYSTEM_PROGRAM, COMPUTE_BUDGET_PROGRAM, MEMO_PROGRAM,
  isTokenProgram, parseTokenAccount, parseMintDecimals, uiAmount, mintData, tokenAccountData,
};
