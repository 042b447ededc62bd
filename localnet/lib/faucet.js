'use strict';
// requestAirdrop: a real System transfer from the genesis faucet, signed here and sent through the
// same path as any client transaction, so it has a signature, a status and a getTransaction record.
// A Memo with a counter keeps repeated airdrops of one amount in one slot distinct.

const wire = require('./wire');
const tokens = require('./tokens');

function shortvec(n) {
  const out = [];
  for (;;) {
    let b = n & 0x7f;
    n >>= 7;
    if (n === 0) { out.push(b); return Buffer.from(out); }
    out.push(b | 0x80);
  }
}

class Faucet {
  constructor(chain, keypair) {
    this.chain = chain;
    this.kp = keypair;
    this.count = 0;
  }

  airdrop(to, lamports) {
    const toKey = wire.decodePubkey(to);
    const { blockhash } = this.chain.latestBlockhash('processed');
    const transfer = Buffer.alloc(12);
    transfer.writeUInt32LE(2, 0); // SystemInstruction::Transfer
    transfer.writeBigUInt64LE(lamports, 4);
    const memo = Buffer.from(`localnet airdrop #${++this.count}`);
    const message = Buffer.concat([
      Buffer.from([1, 0, 2]), // one signer (the faucet), two readonly programs
      shortvec(4), this.kp.publicKeyBytes, toKey, wire.decodePubkey(tokens.SYSTEM_PROGRAM), wire.decodePubkey(tokens.MEMO_PROGRAM),
      wire.decodePubkey(blockhash),
      shortvec(2),
      Buffer.from([2]), shortvec(2), Buffer.from([0, 1]), shortvec(transfer.length), transfer,
      Buffer.from([3]), shortvec(0), shortvec(memo.length), memo,
    ]);
    const tx = Buffer.concat([shortvec(1), this.kp.sign(message), message]);
    return this.chain.send(tx, { skipPreflight: false });
  }
}

module.exports = { Faucet, shortvec };
