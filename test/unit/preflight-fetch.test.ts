/**
 * Fetching and verifying artifacts (controller/content/fetch.ts) against a real loopback server and real files:
 * the size limit (declared and counted), a server too slow for the time limit, file:// URLs, and the sha256 and
 * publisher-signature checks.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPair, signArtifactDigest } from '../../controller/crypto/keys';
import { fetchArtifact, verifyArtifact } from '../../controller/content/fetch';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-fetch-'));
const body = Buffer.from('{"format":"sensor-content/v1"}\n');
const digest = crypto.createHash('sha256').update(body).digest('hex');
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    switch (req.url) {
      case '/ok.json':
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      case '/declared-big':
        res.writeHead(200, { 'content-length': String(10_000) }).end(Buffer.alloc(10_000));
        return;
      case '/chunked-big': {
        // No Content-Length: counted while reading.
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1_000));
        res.end();
        return;
      }
      case '/slow': {
        // Headers at once, then one byte every 200 ms: only a budget over the whole body stops it.
        res.writeHead(200);
        const t = setInterval(() => res.write('x'), 200);
        res.on('close', () => clearInterval(t));
        return;
      }
      default:
        res.writeHead(404).end('no such artifact');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('fetchArtifact', () => {
  test('http: the bytes and their sha256', async () => {
    const r = await fetchArtifact(`${base}/ok.json`);
    expect(r).toEqual({ ok: true, bytes: body, sha256: digest });
  });

  test('http: larger than maxBytes is refused, by Content-Length and counted while reading', async () => {
    for (const p of ['/declared-big', '/chunked-big']) {
      const r = await fetchArtifact(`${base}${p}`, { maxBytes: 4_096 });
      expect([p, r]).toEqual([p, { ok: false, reason: 'too-large', message: `GET ${base}${p}: response larger than 4096 bytes` }]);
    }
  });

  test('http: a server that trickles its body is cut at the time limit', async () => {
    const started = Date.now();
    const r = await fetchArtifact(`${base}/slow`, { timeoutMs: 500 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('timeout');
      expect(r.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/slow: timed out after \d+ ms/);
    }
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  test('http: a 404 is a download failure; the query string never shows', async () => {
    expect(await fetchArtifact(`${base}/missing?token=s3cret`)).toEqual({ ok: false, reason: 'download', message: `GET ${base}/missing: HTTP 404` });
  });

  test('file://: an absolute path is read; too large, a directory and a missing file are refused', async () => {
    const file = path.join(tmp, 'content.json');
    fs.writeFileSync(file, body);
    expect(await fetchArtifact(`file://${file}`)).toEqual({ ok: true, bytes: body, sha256: digest });
    expect(await fetchArtifact(`file://${file}`, { maxBytes: 8 })).toEqual({ ok: false, reason: 'too-large', message: `file://${file}: larger than 8 bytes` });
    expect(await fetchArtifact(`file://${tmp}`)).toEqual({ ok: false, reason: 'download', message: `file://${tmp}: not a regular file` });
    expect(await fetchArtifact(`file://${tmp}/nope`)).toEqual({ ok: false, reason: 'download', message: `file://${tmp}/nope: cannot read (ENOENT)` });
    expect(await fetchArtifact('file://relative/path')).toMatchObject({ ok: false, reason: 'url' });
  });

  test('other schemes and non-URLs are refused as url problems', async () => {
    expect(await fetchArtifact('ftp://example.com/x')).toMatchObject({ ok: false, reason: 'url', message: 'artifact URL: must be http://, https:// or file:// (got ftp://)' });
    expect(await fetchArtifact('not a url')).toMatchObject({ ok: false, reason: 'url' });
  });
});

describe('verifyArtifact', () => {
  const publisher = generateKeyPair();
  const trusted = [{ name: 'test-publisher', key: publisher.publicKey }];
  const signature = signArtifactDigest(publisher.privateKey, digest);

  test('the right bytes with a trusted signature pass; unsigned passes only when the policy allows it (trusted null)', () => {
    expect(verifyArtifact(body, { sha256: digest, signature }, trusted)).toEqual({ ok: true });
    expect(verifyArtifact(body, { sha256: digest }, null)).toEqual({ ok: true });
    expect(verifyArtifact(body, { sha256: digest }, trusted)).toMatchObject({ ok: false, reason: 'signature', message: 'spec.artifact.signature: missing signature (policy requires signed artifacts)' });
  });

  test('tampered bytes fail the hash; a signature by an untrusted key fails the signature', () => {
    const tampered = Buffer.concat([body, Buffer.from(' ')]);
    const r = verifyArtifact(tampered, { sha256: digest, signature }, trusted);
    expect(r).toMatchObject({ ok: false, reason: 'hash' });
    if (!r.ok) expect(r.message).toBe(`sha256 mismatch: the artifact is ${crypto.createHash('sha256').update(tampered).digest('hex')}, the rollout names ${digest}`);
    const stranger = generateKeyPair();
    expect(verifyArtifact(body, { sha256: digest, signature: signArtifactDigest(stranger.privateKey, digest) }, trusted)).toMatchObject({ ok: false, reason: 'signature' });
  });
});
