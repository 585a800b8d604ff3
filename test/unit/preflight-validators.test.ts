/**
 * The content validators (controller/content/validators.ts) on real parts: ajv on the example content files, real
 * child processes (no shell, a clean environment, a timeout that kills the process group, capped output), and a
 * loopback webhook receiver that checks the HMAC signature.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileContentSchema, parseContent } from '../../controller/content/schema';
import { MAX_MESSAGE_CHARS, runValidator, SIGNATURE_HEADER, verifyWebhookSignature, webhookSignature, type ContentValidator } from '../../controller/content/validators';

const ROOT = path.join(__dirname, '..', '..');
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/content/sensor-content.schema.json'), 'utf8')) as object;
const good = fs.readFileSync(path.join(ROOT, 'examples/artifacts/sensor-content-7.16.292.json'));
const malformed = fs.readFileSync(path.join(ROOT, 'examples/artifacts/sensor-content-7.16.293.json'));
const ctx = { version: '7.16.293', sha256: 'ab'.repeat(32), channel: 'sensor-content' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-validators-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const exec = (command: string, args: string[], extra: Partial<Extract<ContentValidator, { type: 'exec' }>> = {}): ContentValidator => ({ type: 'exec', name: 'lint', command, args, timeoutMs: 5_000, ...extra });

/** Whether a process runs (a zombie waiting for a reaper that is not ours counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('schema validator', () => {
  const v: ContentValidator = { type: 'schema', name: 'sensor-content-v1', schema };

  test('the well-formed channel file (20 fields per template) passes', async () => {
    expect(await runValidator(v, good, ctx)).toEqual({ ok: true, name: 'sensor-content-v1' });
  });

  test('the 21-field channel file fails, naming the path and the reason', async () => {
    expect(await runValidator(v, malformed, ctx)).toEqual({ ok: false, name: 'sensor-content-v1', message: 'templates[1].fields: must NOT have more than 20 items (got 21)' });
  });

  test('YAML content is read when it is not JSON, and its mistakes are found the same way', async () => {
    const yaml = Buffer.from('format: sensor-content/v1\nversion: 1.2.3\ntemplates:\n  - id: a\n    fields: [x]\n');
    expect(await runValidator(v, yaml, ctx)).toEqual({ ok: false, name: 'sensor-content-v1', message: 'templates[0].fields: must NOT have fewer than 20 items (got 1)' });
    const wrongFormat = Buffer.from(JSON.stringify({ format: 'other', version: '1.2.3', templates: [] }));
    expect(await runValidator(v, wrongFormat, ctx)).toMatchObject({ ok: false, message: 'format: must be equal to constant "sensor-content/v1"' });
  });

  test('content that is neither JSON nor YAML, or not UTF-8, fails in one bounded line', async () => {
    const r = await runValidator(v, Buffer.from('{"format": [1, 2'), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(/^content is neither JSON \(.+\) nor YAML \(\d+:\d+ .+\)$/);
      expect(r.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    }
    expect(parseContent(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]))).toMatchObject({ ok: false, message: expect.stringMatching(/^content is not valid UTF-8/) });
  });

  test('an invalid schema is one line, and an unsupported dialect is named', () => {
    expect(compileContentSchema({ type: 'wrong' })).toMatchObject({ ok: false, message: expect.stringMatching(/^not a valid JSON Schema: /) });
    expect(compileContentSchema({ $schema: 'http://json-schema.org/draft-04/schema#' })).toMatchObject({ ok: false, message: expect.stringMatching(/not a supported JSON Schema dialect/) });
    // Two schemas with the same $id do not collide (each compiles on its own).
    expect(compileContentSchema({ $id: 'https://x/a.json', type: 'object' }).ok).toBe(true);
    expect(compileContentSchema({ $id: 'https://x/a.json', type: 'array' }).ok).toBe(true);
  });
});

describe('exec validator', () => {
  test('exit 0 passes; the content is on stdin and {artifact} is a file holding it', async () => {
    expect(await runValidator(exec('/usr/bin/cmp', ['-s', '{artifact}', '-']), good, ctx)).toEqual({ ok: true, name: 'lint' });
  });

  test('a non-zero exit fails with the first line of the output', async () => {
    const r = await runValidator(exec('/bin/sh', ['-c', 'echo; echo "template ipc-parse: 21 fields, expected 20"; echo second line; exit 3']), malformed, ctx);
    expect(r).toEqual({ ok: false, name: 'lint', message: 'exit 3: template ipc-parse: 21 fields, expected 20' });
  });

  test('{version}, {sha256} and {channel} are each one argument', async () => {
    const r = await runValidator(exec('/bin/sh', ['-c', 'echo "$1|$2|$3"; exit 1', 'sh', '{channel}', '{version}', '{sha256}']), good, ctx);
    expect(r).toEqual({ ok: false, name: 'lint', message: `exit 1: sensor-content|7.16.293|${ctx.sha256}` });
  });

  test('no shell: an argument like "; touch FILE" reaches the program literally and runs nothing', async () => {
    const canary = path.join(tmp, 'pwned');
    const r = await runValidator(exec('/bin/ls', [`; touch ${canary}`, `$(touch ${canary})`]), good, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(`; touch ${canary}`);
    expect(fs.existsSync(canary)).toBe(false);
  });

  test('the environment is PATH=/usr/bin:/bin and nothing of the controller', async () => {
    process.env.RINGMASTER_TEST_SECRET = 'do-not-leak';
    try {
      const r = await runValidator(exec('/usr/bin/env', ['-0']), good, ctx);
      // env exits 0: read what it saw through a failing wrapper instead.
      expect(r.ok).toBe(true);
      const seen = await runValidator(exec('/bin/sh', ['-c', 'env | grep -v "^PWD=\\|^SHLVL=\\|^_=" | sort | tr "\\n" " "; exit 1']), good, ctx);
      expect(seen).toEqual({ ok: false, name: 'lint', message: 'exit 1: PATH=/usr/bin:/bin' });
    } finally {
      delete process.env.RINGMASTER_TEST_SECRET;
    }
  });

  test('the timeout kills the whole process group (a sleep and its background child)', async () => {
    const pidFile = path.join(tmp, 'bg.pid');
    const started = Date.now();
    const r = await runValidator(exec('/bin/sh', ['-c', `sleep 30 & echo $! > ${pidFile}; sleep 30`], { timeoutMs: 300 }), good, ctx);
    expect(r).toEqual({ ok: false, name: 'lint', message: 'timed out after 300 ms (process group killed)' });
    expect(Date.now() - started).toBeLessThan(3_000);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(bg).toBeGreaterThan(0);
    expect(await gone(bg, 1_000)).toBe(true);
  });

  test('output beyond maxOutputBytes is dropped: the message is cut, and a flood does not hold the check', async () => {
    const r = await runValidator(exec('/bin/sh', ['-c', 'echo abcdefghijklmnopqrstuvwxyz; exit 2'], { maxOutputBytes: 10 }), good, ctx);
    expect(r).toEqual({ ok: false, name: 'lint', message: 'exit 2: abcdefghij' });
    // 20 MB of output on one line: read and dropped past the cap; the message stays bounded.
    const flood = await runValidator(exec('/bin/sh', ['-c', 'head -c 20000000 /dev/zero | tr "\\0" x; exit 4']), good, ctx);
    expect(flood.ok).toBe(false);
    if (!flood.ok) {
      expect(flood.message).toMatch(/^exit 4: x+\.\.\.$/);
      expect(flood.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    }
  });

  test('a command that does not exist fails without a stack trace', async () => {
    expect(await runValidator(exec('/nonexistent/lint', []), good, ctx)).toEqual({ ok: false, name: 'lint', message: 'cannot run lint (ENOENT)' });
  });
});

describe('webhook validator', () => {
  const secret = Buffer.from('a-webhook-secret-of-32-bytes-len');
  let server: http.Server;
  let url = '';
  const seen: Array<{ body: Record<string, unknown>; header: string | undefined }> = [];
  let hang = false;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (hang) return; // never answers
        const body = Buffer.concat(chunks);
        const header = req.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined;
        seen.push({ body: JSON.parse(body.toString()) as Record<string, unknown>, header });
        if (!verifyWebhookSignature(secret, body, header, Math.floor(Date.now() / 1000))) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('bad signature\nmore detail');
          return;
        }
        const content = Buffer.from(String((JSON.parse(body.toString()) as { content: string }).content), 'base64').toString();
        if (content.includes('"ipc.field20"')) res.writeHead(422).end('template ipc-parse has 21 fields\n');
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/preflight?token=query-secret`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const hook = (key: Buffer, timeoutMs = 5_000): ContentValidator => ({ type: 'webhook', name: 'qa-gate', url, secret: key, timeoutMs });

  test('a signed request with the content passes on 2xx; the receiver sees channel, version, sha256, size and content', async () => {
    expect(await runValidator(hook(secret), good, ctx)).toEqual({ ok: true, name: 'qa-gate' });
    const last = seen[seen.length - 1];
    expect(last?.body).toEqual({ channel: 'sensor-content', version: '7.16.293', sha256: ctx.sha256, size: good.length, content: good.toString('base64') });
    expect(last?.header).toMatch(/^t=\d+,v1=[a-f0-9]{64}$/);
  });

  test('a refusal fails with the status and the first line of the reply', async () => {
    expect(await runValidator(hook(secret), malformed, ctx)).toEqual({ ok: false, name: 'qa-gate', message: 'HTTP 422: template ipc-parse has 21 fields' });
  });

  test('a wrong secret is rejected by the receiver, and no message carries a secret', async () => {
    const r = await runValidator(hook(Buffer.from('not-the-right-secret-at-all')), good, ctx);
    expect(r).toEqual({ ok: false, name: 'qa-gate', message: 'HTTP 401: bad signature' });
    expect(JSON.stringify(r)).not.toContain('secret');
  });

  test('the signature is HMAC-SHA256 of "<t>.<body>" and a stale t is refused', () => {
    const body = '{"a":1}';
    const h = webhookSignature(secret, body, 1_700_000_000);
    expect(verifyWebhookSignature(secret, body, h, 1_700_000_100)).toBe(true);
    expect(verifyWebhookSignature(secret, body, h, 1_700_001_000)).toBe(false);
    expect(verifyWebhookSignature(secret, `${body} `, h, 1_700_000_000)).toBe(false);
  });

  test('a receiver that never answers fails at the timeout, the URL shown without its query', async () => {
    hang = true;
    try {
      const r = await runValidator(hook(secret, 300), good, ctx);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.message).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/preflight: timed out after 300 ms$/);
        expect(r.message).not.toContain('query-secret');
      }
    } finally {
      hang = false;
    }
  });
});
