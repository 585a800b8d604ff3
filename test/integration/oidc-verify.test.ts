/**
 * OIDC token verification (controller/api/oidc.ts) against the loopback test provider (test/helpers/oidc-provider.ts):
 * real discovery and JWKS over HTTP, tokens signed with the provider's generated RSA key.
 */
import * as crypto from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { OidcVerifier, type OidcSettings } from '../../controller/api/oidc';
import { TestIdp } from '../helpers/oidc-provider';

const ROLE_MAP = { 'rm-deployers': 'deployer', 'rm-approvers': 'approver', 'rm-sre': 'sre' } as const;

function settings(idp: TestIdp, over: Partial<OidcSettings> = {}): OidcSettings {
  return {
    issuer: idp.issuer,
    audience: idp.audience,
    rolesClaim: 'groups',
    roleMap: ROLE_MAP,
    algorithms: ['RS256', 'ES256'],
    clockSkewSec: 30,
    jwksMaxAgeMs: 60_000,
    refetchIntervalMs: 1_000,
    fetchTimeoutMs: 1_000,
    ...over,
  };
}

describe('OIDC verification against a loopback provider', () => {
  let idp: TestIdp;
  let clock: number;
  let v: OidcVerifier;

  beforeEach(async () => {
    idp = await new TestIdp().start();
    clock = Date.now();
    v = new OidcVerifier(settings(idp), { now: () => clock });
  });
  afterEach(async () => {
    await v.close();
    await idp.stop();
  });

  it('accepts a valid token: subject, issuer and roles from the groups claim', async () => {
    const r = await v.verify(await idp.sign({ sub: 'alice', groups: ['rm-deployers', 'rm-approvers', 'unmapped'] }));
    expect(r).toEqual({ ok: true, identity: { actor: `oidc:${idp.issuer} sub=alice`, subject: 'alice', issuer: idp.issuer, roles: ['deployer', 'approver'], expiresAt: expect.any(Number) } });
    expect(idp.hits.get('/.well-known/openid-configuration')).toBe(1);
    expect(idp.hits.get('/jwks')).toBe(1);
    // Cached: a second token costs no fetch.
    expect((await v.verify(await idp.sign({ sub: 'bob' }))).ok).toBe(true);
    expect(idp.hits.get('/jwks')).toBe(1);
  });

  it('refuses an expired token, and accepts one expired within the clock skew', async () => {
    const now = Math.floor(clock / 1000);
    const expired = await idp.sign({ iat: now - 3600, exp: now - 120 });
    expect(await v.verify(expired)).toEqual({ ok: false, kind: 'invalid', message: 'token expired', expired: true });
    const justExpired = await idp.sign({ iat: now - 3600, exp: now - 10 });
    expect((await v.verify(justExpired)).ok).toBe(true);
  });

  it('refuses a token that is not valid yet (nbf beyond the skew)', async () => {
    const now = Math.floor(clock / 1000);
    expect(await v.verify(await idp.sign({ nbf: now + 300 }))).toEqual({ ok: false, kind: 'invalid', message: 'token is not valid yet (nbf)' });
  });

  it('refuses a subject that cannot be an audit actor (control characters, spaces, too long)', async () => {
    for (const sub of ['alice\nadmin', 'alice bob', 'a'.repeat(300), '\u202eecila']) {
      expect(await v.verify(await idp.sign({ sub }))).toEqual({ ok: false, kind: 'invalid', message: 'token subject (sub) is not a short printable string' });
    }
  });

  it('refuses a token for another audience', async () => {
    expect(await v.verify(await idp.sign({ aud: 'some-other-api' }))).toEqual({ ok: false, kind: 'invalid', message: 'token audience is not this server' });
  });

  it('refuses a token of another issuer, even signed with the right key', async () => {
    expect(await v.verify(await idp.sign({ iss: 'https://evil.example/' }))).toEqual({ ok: false, kind: 'invalid', message: 'token issuer is not the configured issuer' });
  });

  it('refuses alg none', async () => {
    const now = Math.floor(clock / 1000);
    const none = new UnsecuredJWT({ iss: idp.issuer, aud: idp.audience, sub: 'mallory', groups: ['rm-sre'], exp: now + 600 }).encode();
    const r = await v.verify(none);
    expect(r).toEqual({ ok: false, kind: 'invalid', message: 'token algorithm none is not accepted (accepted: RS256, ES256)' });
  });

  it('refuses an HS256 token signed with the public key (key confusion)', async () => {
    const now = Math.floor(clock / 1000);
    const publicPem = crypto.createPublicKey({ key: idp.publicJwk as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [Buffer.from(publicPem), Buffer.from(JSON.stringify(idp.publicJwk))]) {
      const forged = await new SignJWT({ iss: idp.issuer, aud: idp.audience, sub: 'mallory', groups: ['rm-sre'], exp: now + 600 })
        .setProtectedHeader({ alg: 'HS256', kid: idp.kid })
        .sign(new Uint8Array(secret));
      expect(await v.verify(forged)).toEqual({ ok: false, kind: 'invalid', message: 'token algorithm HS256 is not accepted (accepted: RS256, ES256)' });
    }
    // Even a verifier told to accept every asymmetric algorithm never lets HS256 through (it is not in the list).
    const all = new OidcVerifier(settings(idp, { algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] }), { now: () => clock });
    const forged = await new SignJWT({ iss: idp.issuer, aud: idp.audience, sub: 'mallory', exp: now + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(Buffer.from(publicPem)));
    expect((await all.verify(forged)).ok).toBe(false);
    await all.close();
  });

  it('refuses a token with a bad signature', async () => {
    const t = await idp.sign({ sub: 'alice' });
    const [h, p] = t.split('.');
    const other = await idp.sign({ sub: 'bob' });
    const sig = other.split('.')[2];
    expect(await v.verify(`${h}.${p}.${sig}`)).toEqual({ ok: false, kind: 'invalid', message: 'token signature does not verify' });
  });

  it('follows a key rotation: an unknown kid refetches the JWKS, at most once per refetch interval', async () => {
    const before = await idp.sign({ sub: 'alice' });
    expect((await v.verify(before)).ok).toBe(true);
    await idp.rotate();
    const after = await idp.sign({ sub: 'alice' });
    // Within the refetch interval of the first fetch: no refetch, the new kid is unknown.
    expect(await v.verify(after)).toMatchObject({ ok: false, message: expect.stringMatching(/^no key of the identity provider matches the token \(kid [0-9a-f]+\)$/) });
    expect(idp.hits.get('/jwks')).toBe(1);
    clock += 1_500;
    expect((await v.verify(after)).ok).toBe(true);
    expect(idp.hits.get('/jwks')).toBe(2);
    // The old key left the JWKS: tokens signed with it no longer verify; trying again does not refetch each time.
    expect((await v.verify(before)).ok).toBe(false);
    expect((await v.verify(before)).ok).toBe(false);
    expect(idp.hits.get('/jwks')).toBe(2);
  });

  it('keeps verifying with cached keys while the provider is down, until they expire; then nothing verifies', async () => {
    const token = await idp.sign({ sub: 'alice', groups: ['rm-sre'] }, { ttlSec: 24 * 3600 });
    expect((await v.verify(token)).ok).toBe(true);
    await idp.stop();
    clock += 30_000;
    expect((await v.verify(token)).ok).toBe(true);
    clock += 31_000; // past jwksMaxAge (60 s) since the fetch
    const r = await v.verify(token);
    expect(r).toMatchObject({ ok: false, kind: 'unavailable', message: expect.stringMatching(/^cannot verify the token: the identity provider's keys are not at hand \(GET http:\/\/127\.0\.0\.1:\d+\/jwks: connection refused\)$/) });
    // Still closed on the next try (no fetch in the interval: it fails fast).
    expect((await v.verify(token)).ok).toBe(false);
    // The provider back: the next fetch (after the interval) restores verification.
    await idp.start();
    clock += 1_500;
    expect((await v.verify(token)).ok).toBe(true);
  });

  it('refreshes keys in the background after 3/4 of their age: the request does not wait, the next one uses the new set', async () => {
    const token = await idp.sign({ sub: 'alice' }, { ttlSec: 24 * 3600 });
    expect((await v.verify(token)).ok).toBe(true);
    expect(idp.hits.get('/jwks')).toBe(1);
    clock += 50_000; // 5/6 of jwksMaxAge
    expect((await v.verify(token)).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(idp.hits.get('/jwks')).toBe(2);
    clock += 20_000; // 20 s after the second fetch: fresh, nothing fetched
    expect((await v.verify(token)).ok).toBe(true);
    expect(idp.hits.get('/jwks')).toBe(2);
  });

  it('with the provider down from the start, refuses every token', async () => {
    const token = await idp.sign({ sub: 'alice' });
    await idp.stop();
    const r = await v.verify(token);
    expect(r).toMatchObject({ ok: false, kind: 'unavailable' });
  });

  it('refuses a discovery document that names another issuer', async () => {
    const token = await idp.sign({ sub: 'alice' });
    const wrong = new OidcVerifier(settings(idp, { issuer: `${idp.issuer}/` }), { now: () => clock });
    const r = await wrong.verify(token);
    expect(r).toMatchObject({ ok: false, kind: 'unavailable', message: expect.stringContaining(`names issuer ${idp.issuer}, not ${idp.issuer}/`) });
    await wrong.close();
  });

  it('reads roles from a nested claim and grants nothing for unmapped groups', async () => {
    const nested = new OidcVerifier(settings(idp, { rolesClaim: 'realm_access.roles' }), { now: () => clock });
    const r = await nested.verify(await idp.sign({ sub: 'carol', realm_access: { roles: ['rm-sre'] } }));
    expect(r).toMatchObject({ ok: true, identity: { roles: ['sre'] } });
    const none = await v.verify(await idp.sign({ sub: 'dave', groups: ['everyone'] }));
    expect(none).toMatchObject({ ok: true, identity: { roles: [] } });
    await nested.close();
  });
});
