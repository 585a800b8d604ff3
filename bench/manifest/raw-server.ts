/**
 * bench/manifest: the baseline, a raw node:http server in its own process. It answers every request with the body
 * and the headers `ringmaster serve` sent for the same manifest (ETag, X-Ringmaster-Signature, Content-Type, ...,
 * captured by the bench from one 200 and one 304 and written to SPEC_FILE), and a 304 when If-None-Match is the
 * ETag. Headers are one precomputed flat list per status plus a request id made as the real server makes it, so
 * the answers are the same bytes: the ratio measures what ringmaster adds, not a smaller response.
 *
 *   node dist/bench/manifest/raw-server.js SPEC_FILE     (prints {"port": N} once listening on 127.0.0.1:0)
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

export interface RawSpec {
  etag: string;
  bodyBase64: string;
  /** [name, value] pairs of ringmaster's 200 and 304, without Date, Connection, Keep-Alive and X-Request-Id. */
  ok: Array<[string, string]>;
  notModified: Array<[string, string]>;
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: raw-server SPEC_FILE');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as RawSpec;
  const body = Buffer.from(spec.bodyBase64, 'base64');
  const ok = spec.ok.flat();
  const notModified = spec.notModified.flat();
  const idPrefix = crypto.randomBytes(4).toString('hex');
  let seq = 0;
  const server = http.createServer((req, res) => {
    const id = `${idPrefix}-${(++seq).toString(36)}`;
    if (req.headers['if-none-match'] === spec.etag) {
      res.writeHead(304, [...notModified, 'X-Request-Id', id]);
      res.end();
      return;
    }
    res.writeHead(200, [...ok, 'X-Request-Id', id]);
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main();
