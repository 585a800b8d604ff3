/**
 * `ringctl sign --key KEY --file ARTIFACT [--json]`: prints the artifact's sha256 and the base64 ed25519
 * signature over the raw 32-byte digest, as the `spec.artifact` lines of a Rollout (or, with --json,
 * `{"sha256","signature"}`). Refuses a private key file that group or others can read.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { KeyFileError, readPrivateKey, signArtifactDigest } from '../../crypto/keys';
import { CliError, out, runVerb } from '../client';

export function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    const stream = fs.createReadStream(file);
    stream.on('error', (err: NodeJS.ErrnoException) => reject(new CliError(`ringctl sign: ${file}: cannot read artifact (${err.code ?? 'error'})`)));
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

export function registerSign(program: Command): void {
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
        out(opts.json ? JSON.stringify({ sha256, signature }) : `artifact:\n  sha256: ${sha256}\n  signature: ${signature}`);
      }),
    );
}
