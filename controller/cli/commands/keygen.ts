/**
 * `ringctl keygen --out DIR [--name publisher] [--force]`: creates an ed25519 publisher key pair for signing
 * artifacts: DIR/<name>.key (PKCS8 PEM, mode 0600; DIR is created with mode 0700 when it does not exist) and
 * DIR/<name>.pub (SPKI PEM). Prints both paths, the key id and the entry to add to the controller's
 * --trusted-keys file. Refuses to replace existing key files unless --force.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { generateKeyPair, keyId, publicKeyRaw, writeKeyPair, type KeyPair } from '../../crypto/keys';
import { CliError, out, runVerb } from '../client';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function renderKeygen(name: string, written: { privatePath: string; publicPath: string }, pair: KeyPair): string {
  return (
    `private key: ${written.privatePath} (mode 0600; keep it secret)\n` +
    `public key:  ${written.publicPath} (key id ${keyId(pair.publicKey)})\n` +
    `trusted-keys entry for ringmaster serve --trusted-keys FILE:\n` +
    `keys:\n  - name: ${name}\n    publicKey: ${publicKeyRaw(pair.publicKey).toString('base64')}\n`
  );
}

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('create an ed25519 publisher key pair for signing artifacts')
    .requiredOption('--out <dir>', 'directory for <name>.key (0600) and <name>.pub (created 0700)')
    .option('--name <name>', 'file name and key name', 'publisher')
    .option('--force', 'replace existing key files')
    .action((opts: { out: string; name: string; force?: boolean }) =>
      runVerb(async () => {
        if (!NAME.test(opts.name)) throw new CliError(`ringctl keygen: --name must be lowercase letters, digits and dashes (got ${JSON.stringify(opts.name)})`, 2);
        const files = [path.join(opts.out, `${opts.name}.key`), path.join(opts.out, `${opts.name}.pub`)];
        const existing = files.filter((f) => fs.existsSync(f));
        if (existing.length > 0) {
          if (!opts.force) throw new CliError(`ringctl keygen: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''} (use --force to replace)`);
          for (const f of existing) fs.rmSync(f);
        }
        const pair = generateKeyPair();
        let written: { privatePath: string; publicPath: string };
        try {
          written = writeKeyPair(opts.out, opts.name, pair);
        } catch (err) {
          throw new CliError(`ringctl keygen: ${opts.out}: cannot write keys (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        out(renderKeygen(opts.name, written, pair));
      }),
    );
}
