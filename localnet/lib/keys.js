'use strict';
// Deterministic ed25519 dev keys. LOCAL DEVELOPMENT ONLY: every key here is derived from a public,
// fixed label, so anyone can recompute it. Never fund these addresses on a real cluster.

const crypto = require('node:crypto');
const { b58encode } = require('./wire');

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SEED_DOMAIN = 'h402-localnet dev key, LOCAL ONLY: ';

function sha256(...parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

// keypairFromSeed builds a keypair from a 32-byte ed25519 seed.
function keypairFromSeed(seed) {
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    privateKey,
    publicKeyBytes: Buffer.from(publicKey),
    publicKey: b58encode(publicKey),
    // Solana's 64-byte secret key (seed || public key), base58, as solana-go's PrivateKey expects.
    secretKey: b58encode(Buffer.concat([seed, publicKey])),
    sign: (msg) => crypto.sign(null, msg, privateKey),
  };
}

// devKeypair derives the well-known local dev keypair for a label such as "payer-0".
function devKeypair(label) {
  return keypairFromSeed(sha256(SEED_DOMAIN + label));
}

module.exports = { sha256, keypairFromSeed, devKeypair };
