/** The serve config's oidc and breakGlass settings: read through the one loader, mistakes one line each. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIdentityConfig } from '../../controller/config/serve';
import { InputError } from '../../controller/spec/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-idcfg-'));
function configFile(text: string): string {
  const p = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(p, text);
  return p;
}
function problems(text: string): string[] {
  const f = configFile(text);
  try {
    readIdentityConfig(f);
  } catch (err) {
    if (err instanceof InputError) return err.lines.map((l) => l.replace(f, 'serve.yaml'));
    throw err;
  }
  return [];
}

describe('serve config: oidc and breakGlass', () => {
  test('a full oidc section and break-glass list, with defaults for what is left out', () => {
    const f = configFile('oidc:\n  issuer: https://login.example.com/realms/ops\n  audience: ringmaster\n  clientId: ringctl\n  roles: { rm-sre: sre, rm-approvers: approver }\n  jwksMaxAge: 2h\n  clockSkew: 10s\nbreakGlass:\n  - { name: vault-1, sha256: ' + 'ab'.repeat(32) + ' }\n');
    expect(readIdentityConfig(f)).toEqual({
      oidc: {
        issuer: 'https://login.example.com/realms/ops',
        audience: 'ringmaster',
        clientId: 'ringctl',
        rolesClaim: 'groups',
        roleMap: { 'rm-sre': 'sre', 'rm-approvers': 'approver' },
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        clockSkewSec: 10,
        jwksMaxAgeMs: 7_200_000,
        refetchIntervalMs: 30_000,
        fetchTimeoutMs: 3_000,
      },
      breakGlass: [{ name: 'vault-1', sha256: 'ab'.repeat(32) }],
    });
    expect(readIdentityConfig(undefined)).toEqual({ breakGlass: [] });
  });

  test('mistakes are named by file, line and field', () => {
    expect(problems('oidc:\n  issuer: http://idp.example.com\n  audience: a\n  roles: { g: sre }\n')).toEqual(['serve.yaml:2:11 oidc.issuer: must be an https:// URL (http:// only on 127.0.0.1, localhost or [::1])']);
    expect(problems('oidc:\n  issuer: https://idp\n  audience: a\n  roles: { g: sre }\n  algorithms: [RS256, HS256]\n')).toEqual([expect.stringMatching(/^serve\.yaml:5:\d+ oidc\.algorithms\[1\]: must be one of RS256, .*EdDSA \(got "?HS256"?\); none and HMAC algorithms are never accepted$/)]);
    expect(problems('oidc:\n  issuer: https://idp\n  audience: a\n  roles: { g: agent }\n')).toEqual([expect.stringMatching(/^serve\.yaml:4:\d+ oidc\.roles\.g: must be one of viewer, deployer, approver, sre, admin \(got "?agent"?\)$/)]);
    expect(problems('oidc:\n  issuer: https://idp\n  roles: { g: sre }\n')).toEqual([expect.stringMatching(/^serve\.yaml:2:\d+ oidc: missing required setting "audience"$/)]);
    expect(problems('oidc:\n  issuer: https://idp\n  audience: a\n  roles: { g: sre }\n  jwksMaxAge: soon\n')).toEqual([expect.stringMatching(/^serve\.yaml:5:\d+ oidc\.jwksMaxAge: invalid duration "soon"/)]);
    expect(problems('breakGlass:\n  - { name: v1, sha256: hunter2 }\n')).toEqual([expect.stringMatching(/^serve\.yaml:2:\d+ breakGlass\[0\]\.sha256: must be the 64-hex-character sha256 of the secret, not the secret itself$/)]);
  });
});
