'use strict';
// Node-side unit tests of the localnet's pieces: base58, the transaction parser, token amounts,
// LiteSVM error mapping, and the chain model (blockhash expiry, duplicates, commitment).

const test = require('node:test');
const assert = require('node:assert/strict');
const wire = require('../lib/wire');
const tokens = require('../lib/tokens');
const txerror = require('../lib/txerror');
const { Chain } = require('../lib/chain');
const { Faucet } = require('../lib/faucet');
const { devKeypair } = require('../lib/keys');

test('base58 round trip and known vectors', () => {
  assert.equal(wire.b58encode(Buffer.alloc(32)), '11111111111111111111111111111111');
  assert.equal(wire.b58encode(Buffer.from([0, 0, 1])), '112');
  assert.deepEqual(wire.b58decode('112'), Buffer.from([0, 0, 1]));
  const b = Buffer.from('00ff10203040506070', 'hex');
  assert.deepEqual(wire.b58decode(wire.b58encode(b)), b);
  assert.throws(() => wire.b58decode('0OIl'), wire.WireError);
  assert.throws(() => wire.decodePubkey('112'), /want 32/);
});

test('uiAmount renders like a Solana node', () => {
  const cases = [
    [0n, 6, '0', null],
    [1n, 6, '0.000001', 0.000001],
    [1500000n, 6, '1.5', 1.5],
    [1000000000000n, 6, '1000000', 1000000],
    [42n, 0, '42', 42],
  ];
  for (const [amount, decimals, str, ui] of cases) {
    const got = tokens.uiAmount(amount, decimals);
    assert.equal(got.uiAmountString, str, `uiAmountString of ${amount}/${decimals}`);
    assert.equal(got.uiAmount, ui, `uiAmount of ${amount}/${decimals}`);
    assert.equal(got.amount, amount.toString());
  }
});

test('LiteSVM error numbers map to named errors and messages', () => {
  assert.equal(txerror.toJSON(6), 'AlreadyProcessed');
  assert.equal(txerror.toJSON(7), 'BlockhashNotFound');
  assert.equal(txerror.message('AlreadyProcessed'), 'This transaction has already been processed');
  assert.equal(txerror.message('BlockhashNotFound'), 'Blockhash not found');
  assert.equal(txerror.message({ InstructionError: [3, { Custom: 1 }] }), 'Error processing Instruction 3: custom program error: 0x1');
  assert.equal(txerror.message({ InstructionError: [0, 'InsufficientFunds'] }), 'Error processing Instruction 0: insufficient funds for instruction');
});

test('parser rejects malformed transactions', () => {
  for (const bad of [Buffer.alloc(0), Buffer.from([1]), Buffer.from([0]), Buffer.concat([Buffer.from([1]), Buffer.alloc(64), Buffer.from([1, 0, 0, 0])])]) {
    assert.throws(() => wire.parseTransaction(bad), wire.WireError);
  }
});

test('chain: airdrop lands, commitment follows slots, duplicates and expired blockhashes are rejected', () => {
  const chain = new Chain({ blockhashExpiry: 5, finalityDepth: 3 });
  const faucetKey = devKeypair('test-faucet');
  chain.setAccount(faucetKey.publicKey, { lamports: 10n ** 15n });
  const faucet = new Faucet(chain, faucetKey);
  const to = devKeypair('test-to').publicKey;

  const sig = faucet.airdrop(to, 1_000_000_000n);
  const rec = chain.records.get(sig);
  assert.equal(rec.err, null);
  assert.equal(rec.fee, 5000n);
  assert.equal(rec.postBalances[1] - rec.preBalances[1], 1_000_000_000n);
  assert.equal(chain.status(rec).confirmationStatus, 'processed');
  chain.advance(1);
  assert.equal(chain.status(rec).confirmationStatus, 'confirmed');
  chain.advance(2);
  assert.equal(chain.status(rec).confirmationStatus, 'finalized');

  // Resending the exact bytes is a duplicate.
  assert.throws(() => chain.send(rec.bytes), (e) => e.data.err === 'AlreadyProcessed');

  const { blockhash } = chain.latestBlockhash('processed');
  assert.equal(chain.isBlockhashValid(blockhash), true);
  chain.advance(5);
  assert.equal(chain.isBlockhashValid(blockhash), true, 'valid through its last valid slot');
  chain.advance(1);
  assert.equal(chain.isBlockhashValid(blockhash), false, 'expired one slot later');
});

test('chain: history keeps details of the newest records and every signature', () => {
  const chain = new Chain({ history: 2 });
  const faucetKey = devKeypair('test-faucet');
  chain.setAccount(faucetKey.publicKey, { lamports: 10n ** 15n });
  const faucet = new Faucet(chain, faucetKey);
  const to = devKeypair('test-to').publicKey;
  const sigs = [1, 2, 3].map(() => faucet.airdrop(to, 1_000_000_000n));
  assert.equal(chain.records.get(sigs[0]).pruned, true);
  assert.equal(chain.records.get(sigs[0]).slot, 0);
  assert.ok(chain.records.get(sigs[1]).bytes);
  assert.ok(chain.records.get(sigs[2]).bytes);
  assert.equal(chain.records.size, 3);
});

test('chain: advancing with seconds moves the block time of the new slots, only with a slot', () => {
  const chain = new Chain();
  const t0 = chain.slotTime;
  chain.advance(1, 100);
  assert.equal(chain.slotTime, t0 + 100);
  chain.advance(1);
  assert.equal(chain.slotTime, t0 + 100, 'no seconds: the block time stays (the wall clock is behind it)');
  assert.throws(() => chain.advance(0, 5), /at least 1 slot/);
  assert.throws(() => chain.advance(1, -1), /seconds must be/);
});

test('rpc: getSignaturesForAddress lists newest first, pages with before and until, follows commitment', () => {
  const { makeMethods } = require('../lib/rpc');
  const chain = new Chain({ finalityDepth: 3, history: 2 });
  const faucetKey = devKeypair('test-faucet');
  chain.setAccount(faucetKey.publicKey, { lamports: 10n ** 15n });
  const faucet = new Faucet(chain, faucetKey);
  const rpc = makeMethods({ chain, faucet, manifest: {} });
  const to = devKeypair('test-to').publicKey;
  const other = devKeypair('test-other').publicKey;

  const sigs = [];
  for (let i = 0; i < 3; i++) {
    sigs.push(faucet.airdrop(to, 1_000_000_000n));
    chain.advance(1, 10);
  }
  const otherSig = faucet.airdrop(other, 1_000_000_000n);
  const list = (addr, c) => rpc.getSignaturesForAddress([addr, c]).map((s) => s.signature);

  // Slots 0, 1, 2 hold the three; the chain is at slot 3: finalized is slot 0 only.
  assert.deepEqual(list(to), [sigs[0]], 'default commitment is finalized');
  assert.deepEqual(list(to, { commitment: 'confirmed' }), [sigs[2], sigs[1], sigs[0]]);
  assert.deepEqual(list(faucetKey.publicKey, { commitment: 'confirmed' }), [sigs[2], sigs[1], sigs[0]], 'the sender is listed too; the processed one is not');
  chain.advance(3);
  assert.deepEqual(list(faucetKey.publicKey), [otherSig, sigs[2], sigs[1], sigs[0]]);
  assert.deepEqual(list(other), [otherSig]);

  const all = rpc.getSignaturesForAddress([to]);
  assert.deepEqual(all.map((s) => s.slot), [2, 1, 0]);
  assert.equal(all[0].blockTime - all[1].blockTime, 10, 'block times follow the advanced seconds');
  assert.equal(all[0].err, null);
  assert.equal(all[0].confirmationStatus, 'finalized');
  assert.equal(all[2].blockTime, chain.records.get(sigs[0]).blockTime, 'a pruned record keeps its block time');
  assert.equal(chain.records.get(sigs[0]).pruned, true);

  assert.deepEqual(list(to, { limit: 2 }), [sigs[2], sigs[1]]);
  assert.deepEqual(list(to, { limit: 2, before: sigs[1] }), [sigs[0]]);
  assert.deepEqual(list(to, { until: sigs[0] }), [sigs[2], sigs[1]]);
  assert.deepEqual(list(to, { before: otherSig }), [], 'a before that is not in the list gives nothing');
  assert.deepEqual(list(devKeypair('test-nobody').publicKey), []);

  assert.throws(() => rpc.getSignaturesForAddress([to, { commitment: 'processed' }]), /below `confirmed`/);
  assert.throws(() => rpc.getSignaturesForAddress([to, { limit: 1001 }]), /Invalid limit/);
  assert.throws(() => rpc.getSignaturesForAddress([to, { before: 'abc' }]), /before must be/);
  assert.throws(() => rpc.getSignaturesForAddress(['nope']), (e) => e.code === -32602);
});

test('rpc: localnet_advanceSlots takes seconds for the block time', () => {
  const { makeMethods } = require('../lib/rpc');
  const chain = new Chain();
  const rpc = makeMethods({ chain, faucet: null, manifest: {} });
  const t0 = chain.slotTime;
  assert.deepEqual(rpc.localnet_advanceSlots([2, 30]), { slot: 2 });
  assert.equal(chain.slotTime, t0 + 30);
  assert.deepEqual(rpc.localnet_advanceSlots({ n: 1, seconds: 5 }), { slot: 3 });
  assert.equal(chain.slotTime, t0 + 35);
});
