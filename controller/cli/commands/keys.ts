/**
 * Publisher keys for artifact signatures (the supply-chain check):
 *
 *   ringctl keygen --out DIR [--name publisher] [--force]
 *       writes DIR/<name>.key (PKCS8 PEM, mode 0600; DIR is created 0700) and DIR/<name>.pub (SPKI PEM), and
 *       prints the trusted-keys entry for `ringmaster serve --trusted-keys`.
 *   ringctl sign --key KEY --file ARTIFACT [--json]
 *       prints the artifact's sha256 and the base64 ed25519 signature over the raw digest, ready for
 *       spec.artifact. Refuses a private key readable by others.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { generateKeyPair, KeyFileError, keyId, publicKeyRaw, readPrivateKey, signArtifactDigest, writeKeyPair } from '../../crypto/keys';
import { CliError, runVerb } from '../client';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function registerKeys(program: Command): void {
  program
    .command('keygen')
    .description('create an ed25519 publisher key pair for signing artifacts')
    .requiredOption('--out <dir>', 'directory for <name>.key (0600) and <name>.pub')
    .option('--name <name>', 'file name and key name', 'publisher')
    .option('--force', 'replace existing key files')
    .action((opts: { out: string; name: string; force?: boolean }) =>
      runVerb(async () => {
        if (!NAME.test(opts.name)) throw new CliError(`ringctl keygen: --name must be lowercase letters, digits and dashes (got ${JSON.stringify(opts.name)})`, 2);
        const files = [path.join(opts.out, `${opts.name}.key`), path.join(opts.out, `${opts.name}.pub`)];
        const existing = files.filter((f) => fs.existsSync(f));
        if (existing.length > 0) {
          if (!opts.force) throw new CliError(`ringctl keygen: ${existing.join(', ')} already exists (use --force to replace it)`);
          for (const f of existing) fs.rmSync(f);
        }
        const pair = generateKeyPair();
        let written: { privatePath: string; publicPath: string };
        try {
          written = writeKeyPair(opts.out, opts.name, pair);
        } catch (err) {
          throw new CliError(`ringctl keygen: ${opts.out}: cannot write keys (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        process.stdout.write(
          `private key: ${written.privatePath} (mode 0600; keep it secret)\n` +
            `public key:  ${written.publicPath} (key id ${keyId(pair.publicKey)})\n` +
            `trusted-keys entry for ringmaster serve --trusted-keys FILE:\n` +
            `keys:\n  - name: ${opts.name}\n    publicKey: ${publicKeyRaw(pair.publicKey).toString('base64')}\n`,
        );
      }),
    );

  program
    .command('sign')
    .description("print an artifact's sha256 and its ed25519 signature for spec.artifact")
    .requiredOption('--key <file>', 'publisher private key (from ringctl keygen)')
    .requiredOption('--file <artifact>', 'the artifact to sign')
    .option('--json', 'print {"sha256","signature"}')
    .action((opts: { key: string; file: string; json?: boolean }) =>
      runVerb(async () => {
        let privateKey: crypto.KeyObject;
        try {
          privateKey = readPrivateKey(opts.key).privateKey;
        } catch (err) {
          if (err instanceof KeyFileError) throw new CliError(`ringctl sign: ${err.message}`);
          throw new CliError(`ringctl sign: ${opts.key}: cannot read key (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        const sha256 = await fileSha256(opts.file);
        const signature = signArtifactDigest(privateKey, sha256);
        if (opts.json) process.stdout.write(`${JSON.stringify({ sha256, signature })}\n`);
        else process.stdout.write(`artifact:\n  sha256: ${sha256}\n  signature: ${signature}\n`);
      }),
    );
}

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    const stream = fs.createReadStream(file);
    stream.on('error', (err: NodeJS.ErrnoException) => reject(new CliError(`ringctl sign: ${file}: cannot read artifact (${err.code ?? 'error'})`)));
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}
