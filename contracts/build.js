#!/usr/bin/env node
// Compiles src/*.sol with the pinned solc-js (package.json) and writes, for each
// contract, artifacts/<Name>.json (ABI, creation and runtime bytecode, compiler
// settings) plus <Name>.abi and <Name>.bin for abigen.
//
// Usage: node build.js [outDir]   (default: ./artifacts)
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const srcDir = path.join(__dirname, 'src');
const outDir = path.resolve(process.argv[2] || path.join(__dirname, 'artifacts'));

// Settings are part of the artifact: changing them changes the bytecode, and
// check.sh will report the difference until artifacts are rebuilt.
const settings = {
  evmVersion: 'cancun',
  viaIR: true,
  optimizer: { enabled: true, runs: 10000 },
  metadata: { appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

const sources = {};
for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[`src/${file}`] = { content: fs.readFileSync(path.join(srcDir, file), 'utf8') };
}

const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings })));
const problems = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) {
  process.stderr.write(`${e.formattedMessage || e.message}\n`);
}
if (problems.length > 0) {
  process.exit(1);
}

fs.mkdirSync(outDir, { recursive: true });
for (const [sourceName, contracts] of Object.entries(output.contracts).sort()) {
  for (const [name, c] of Object.entries(contracts).sort()) {
    const artifact = {
      contractName: name,
      sourceName,
      compiler: { name: 'solc-js', version: solc.version(), settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer } },
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
    fs.writeFileSync(path.join(outDir, `${name}.abi`), `${JSON.stringify(c.abi)}\n`);
    fs.writeFileSync(path.join(outDir, `${name}.bin`), `${c.evm.bytecode.object}\n`);
    process.stdout.write(`${name}: ${c.evm.deployedBytecode.object.length / 2} bytes runtime -> ${path.relative(process.cwd(), outDir) || '.'}\n`);
  }
}
