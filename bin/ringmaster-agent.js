#!/usr/bin/env node
'use strict';
// Thin launcher: the TypeScript sources are compiled to dist/ by `npm ci` (prepare) or `make build`.
const path = require('node:path');
const target = path.join(__dirname, '..', 'dist', 'agent/cli.js');
let mod;
try {
  mod = require(target);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(target)) {
    process.stderr.write('ringmaster-agent: not built yet; run `make build` (or `npm ci`) first\n');
    process.exit(2);
  }
  throw err;
}
mod.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write('ringmaster-agent: ' + (err && err.message ? err.message : String(err)) + '\n'); process.exitCode = 1; },
);
