#!/usr/bin/env node
// The npm registry reachable here only carries the linux builds of unrs-resolver's platform bindings, so
// `npm install` writes a lockfile that names the others in optionalDependencies without lock entries, and
// `npm ci` then refuses it as "out of sync". This adds an os/cpu-tagged entry for each missing binding, which
// `npm ci` skips on this platform without fetching. Run after any `npm install` that rewrites the lockfile.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const PLATFORMS = {
  'android-arm-eabi': { os: 'android', cpu: 'arm' },
  'android-arm64': { os: 'android', cpu: 'arm64' },
  'darwin-arm64': { os: 'darwin', cpu: 'arm64' },
  'darwin-x64': { os: 'darwin', cpu: 'x64' },
  'freebsd-x64': { os: 'freebsd', cpu: 'x64' },
  'linux-arm-gnueabihf': { os: 'linux', cpu: 'arm', libc: 'glibc' },
  'linux-arm-musleabihf': { os: 'linux', cpu: 'arm', libc: 'musl' },
  'linux-loong64-gnu': { os: 'linux', cpu: 'loong64', libc: 'glibc' },
  'linux-loong64-musl': { os: 'linux', cpu: 'loong64', libc: 'musl' },
  'linux-ppc64-gnu': { os: 'linux', cpu: 'ppc64', libc: 'glibc' },
  'linux-riscv64-gnu': { os: 'linux', cpu: 'riscv64', libc: 'glibc' },
  'linux-riscv64-musl': { os: 'linux', cpu: 'riscv64', libc: 'musl' },
  'linux-s390x-gnu': { os: 'linux', cpu: 's390x', libc: 'glibc' },
  'openharmony-arm64': { os: 'openharmony', cpu: 'arm64' },
  'win32-arm64-msvc': { os: 'win32', cpu: 'arm64' },
  'win32-ia32-msvc': { os: 'win32', cpu: 'ia32' },
  'win32-x64-msvc': { os: 'win32', cpu: 'x64' },
};
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const m = /^@unrs\/resolver-binding-(.+)$/.exec(dep);
    const where = `${key ? key + '/' : ''}node_modules/${dep}`.replace(/^.*?(node_modules\/@unrs)/, 'node_modules/@unrs');
    if (!m || lock.packages[where]) continue;
    const p = PLATFORMS[m[1]];
    if (!p) throw new Error(`package-lock.json: ${dep}: unknown platform; add it to scripts/lock-optional-platforms.js`);
    const entry = { version, cpu: [p.cpu], dev: pkg.dev === true || undefined, optional: true, os: [p.os] };
    if (p.libc) entry.libc = [p.libc];
    lock.packages[where] = entry;
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: added ${added} platform-tagged optional entries`);
