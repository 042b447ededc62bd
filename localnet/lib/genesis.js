'use strict';
// Genesis state: a USDC-like SPL mint and a Token-2022 mint (6 decimals each), funded payers with
// associated token accounts on both mints, a seller with its (empty) associated token accounts, funded
// facilitator fee payers, and a faucet for requestAirdrop. All keys are well-known LOCAL DEV keys
// derived from fixed labels (see keys.js), so addresses are the same on every start.

const { getProgramDerivedAddress, address } = require('@solana/kit');
const { devKeypair } = require('./keys');
const tokens = require('./tokens');
const wire = require('./wire');

const LAMPORTS_PER_SOL = 1_000_000_000n;
const DECIMALS = 6;

async function associatedTokenAddress(owner, mint, tokenProgram) {
  const [ata] = await getProgramDerivedAddress({
    programAddress: address(tokens.ASSOCIATED_TOKEN_PROGRAM),
    seeds: [wire.decodePubkey(owner), wire.decodePubkey(tokenProgram), wire.decodePubkey(mint)],
  });
  return ata;
}

function keyJSON(kp) {
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

// createGenesis writes the genesis accounts into chain and returns the manifest body (without URL).
async function createGenesis(chain, { payers = 4, feePayers = 2, payerTokens = 1_000_000n, payerSol = 100n, feePayerSol = 100n } = {}) {
  const faucet = devKeypair('faucet');
  const mintAuthority = devKeypair('mint-authority');
  const mintDefs = [
    { name: 'usdc', symbol: 'USDC', kp: devKeypair('mint-usdc'), program: tokens.TOKEN_PROGRAM },
    { name: 'token2022', symbol: 'USD22', kp: devKeypair('mint-token2022'), program: tokens.TOKEN_2022_PROGRAM },
  ];
  const perPayer = payerTokens * 10n ** BigInt(DECIMALS);

  chain.setAccount(faucet.publicKey, { lamports: 1_000_000_000n * LAMPORTS_PER_SOL });
  chain.setAccount(mintAuthority.publicKey, { lamports: 10n * LAMPORTS_PER_SOL });

  const mintRent = chain.svm.minimumBalanceForRentExemption(82n);
  const mints = {};
  for (const m of mintDefs) {
    chain.setAccount(m.kp.publicKey, {
      lamports: mintRent,
      owner: m.program,
      data: tokens.mintData({ mintAuthority: mintAuthority.publicKey, supply: perPayer * BigInt(payers), decimals: DECIMALS }),
    });
    mints[m.name] = { address: m.kp.publicKey, tokenProgram: m.program, decimals: DECIMALS, symbol: m.symbol };
  }

  const tokenAccounts = async (owner, amount) => {
    const out = {};
    for (const m of mintDefs) {
      const ata = await associatedTokenAddress(owner, m.kp.publicKey, m.program);
      const data = tokens.tokenAccountData({ programId: m.program, mint: m.kp.publicKey, owner, amount });
      chain.setAccount(ata, { lamports: chain.svm.minimumBalanceForRentExemption(BigInt(data.length)), owner: m.program, data });
      out[m.name] = ata;
    }
    return out;
  };

  const payerList = [];
  for (let i = 0; i < payers; i++) {
    const kp = devKeypair(`payer-${i}`);
    chain.setAccount(kp.publicKey, { lamports: payerSol * LAMPORTS_PER_SOL });
    payerList.push({ ...keyJSON(kp), tokenAccounts: await tokenAccounts(kp.publicKey, perPayer) });
  }
  const seller = devKeypair('seller');
  chain.setAccount(seller.publicKey, { lamports: LAMPORTS_PER_SOL });
  const sellerJSON = { ...keyJSON(seller), tokenAccounts: await tokenAccounts(seller.publicKey, 0n) };
  const feePayerList = [];
  for (let i = 0; i < feePayers; i++) {
    const kp = devKeypair(`fee-payer-${i}`);
    chain.setAccount(kp.publicKey, { lamports: feePayerSol * LAMPORTS_PER_SOL });
    feePayerList.push(keyJSON(kp));
  }

  return {
    faucet,
    manifest: {
      warning: 'LOCAL DEVELOPMENT ONLY: these secret keys are derived from public labels; never use them on a real cluster.',
      genesisHash: chain.genesisHash,
      blockhashExpirySlots: chain.blockhashExpiry,
      finalityDepthSlots: chain.finalityDepth,
      mints,
      mintAuthority: keyJSON(mintAuthority),
      payers: payerList,
      seller: sellerJSON,
      feePayers: feePayerList,
      faucet: { publicKey: faucet.publicKey },
    },
  };
}

module.exports = { createGenesis, associatedTokenAddress };
