import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  generateKeyPair, keyId, loadOrCreateSigningKey, parsePublicKey, publicKeyPem, publicKeyRaw, readPrivateKey, sign,
  signArtifactDigest, verify, verifyArtifactSignature,
} from '../../controller/crypto/keys';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rm-keys-'));

describe('ed25519 keys', () => {
  it('a signature verifies and a one-byte change fails', () => {
    const { privateKey, publicKey } = generateKeyPair();
    const body = Buffer.from('{"channel":"c","revision":1}');
    const sig = sign(privateKey, body);
    expect(verify(publicKey, body, sig)).toBe(true);
    const tampered = Buffer.from(body);
    tampered[5] = (tampered[5] as number) ^ 1;
    expect(verify(publicKey, tampered, sig)).toBe(false);
    expect(verify(publicKey, body, 'not base64!!')).toBe(false);
  });

  it('the signing key is created once with mode 0600 and reloaded', () => {
    const dir = tmp();
    const a = loadOrCreateSigningKey(dir);
    expect(a.created).toBe(true);
    expect(fs.statSync(path.join(dir, 'signing.key')).mode & 0o777).toBe(0o600);
    const b = loadOrCreateSigningKey(dir);
    expect(b.created).toBe(false);
    expect(keyId(b.publicKey)).toBe(keyId(a.publicKey));
  });

  it('refuses a private key readable by others', () => {
    const dir = tmp();
    loadOrCreateSigningKey(dir);
    fs.chmodSync(path.join(dir, 'signing.key'), 0o644);
    expect(() => readPrivateKey(path.join(dir, 'signing.key'))).toThrow(/readable by others/);
  });

  it('parses public keys as PEM or raw base64', () => {
    const { publicKey } = generateKeyPair();
    const fromPem = parsePublicKey(publicKeyPem(publicKey));
    const fromRaw = parsePublicKey(publicKeyRaw(publicKey).toString('base64'));
    expect(fromPem.ok && fromRaw.ok && keyId(fromPem.key) === keyId(fromRaw.key)).toBe(true);
    expect(parsePublicKey('hello').ok).toBe(false);
  });

  it('artifact signatures: valid, wrong, missing, malformed and untrusted', () => {
    const publisher = generateKeyPair();
    const other = generateKeyPair();
    const sha = crypto.createHash('sha256').update('artifact').digest('hex');
    const trusted = [{ name: 'release', key: publisher.publicKey }];
    expect(verifyArtifactSignature({ sha256: sha, signature: signArtifactDigest(publisher.privateKey, sha) }, trusted)).toEqual({ ok: true, keyName: 'release' });
    expect(verifyArtifactSignature({ sha256: sha, signature: signArtifactDigest(other.privateKey, sha) }, trusted)).toMatchObject({ ok: false, field: 'spec.artifact.signature' });
    expect(verifyArtifactSignature({ sha256: sha }, trusted)).toMatchObject({ ok: false, message: expect.stringContaining('missing') });
    expect(verifyArtifactSignature({ sha256: sha, signature: 'AAAA' }, trusted)).toMatchObject({ ok: false, message: expect.stringContaining('malformed') });
    const otherSha = crypto.createHash('sha256').update('other').digest('hex');
    expect(verifyArtifactSignature({ sha256: otherSha, signature: signArtifactDigest(publisher.privateKey, sha) }, trusted).ok).toBe(false);
  });
});
