/** Files read by the loader (ringctl validate/plan, serve's policies and configs) must be UTF-8, or they are refused by name. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readDocumentText } from '../../controller/spec/document';

describe('document files are decoded strictly', () => {
  it('refuses an overlong encoding with the byte and its offset, and reads a UTF-8 file as it is', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-utf8-'));
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, Buffer.concat([Buffer.from('metadata: { name: "a'), Buffer.from([0xc0, 0xaf]), Buffer.from('" }\n')]));
    const r = readDocumentText(bad);
    expect(r).toEqual({ ok: false, error: { file: bad, line: 0, col: 0, path: '', message: 'not valid UTF-8 (byte 0xC0 at offset 20 does not start or continue a well-formed sequence)' } });
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, 'reason: "café ✓"\n');
    expect(readDocumentText(good)).toEqual({ ok: true, text: 'reason: "café ✓"\n' });
  });
});
