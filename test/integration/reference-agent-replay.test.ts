/**
 * The reference agent against the real controller over loopback HTTP, through a replay proxy: a withdrawn
 * candidate is not re-installed from a replayed manifest (replay, then stale for a host that never saw the newer
 * revision), a tampered manifest body and a tampered artifact are refused and counted with nothing installed, and
 * every counter series of a candidate exists at 0 before the first refusal moves it (the controller's
 * update-failures halt reads increase()).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, FileInstaller, type InstalledVersion } from '../../agent';
import { generateKeyPair, publicKeyRaw, signArtifactDigest } from '../../controller/crypto/keys';
import { parsePublicKey } from '../../controller/crypto/keys';
import { flipByte, ReplayProxy } from '../helpers/replay-proxy';
import { activeBytes, agentOptions, CHANNEL, metricValue, MIN, openLab, rolloutOf, type Lab } from './reference-agent-harness';

/** A FileInstaller that records what it was asked to install. */
class RecordingInstaller extends FileInstaller {
  readonly installs: string[] = [];
  override async install(v: InstalledVersion, bytes: Buffer): Promise<void> {
    this.installs.push(v.version);
    await super.install(v, bytes);
  }
}

const failures = (text: string, version: string, reason: string): number | undefined =>
  metricValue(text, `ringmaster_agent_update_failures_total{channel="${CHANNEL}",version="${version}",reason="${reason}"}`);
const refusals = (text: string, reason: string): number | undefined => metricValue(text, `ringmaster_agent_manifest_refusals_total{channel="${CHANNEL}",reason="${reason}"}`);

describe('reference agent: replay, max age and tampering, through a loopback proxy', () => {
  let lab: Lab;
  let proxy: ReplayProxy;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-replay-'));
  const v291 = Buffer.from('{"format":"sensor-content/v1","version":"7.16.291"}\n');
  const v292 = Buffer.from('{"format":"sensor-content/v1","version":"7.16.292"}\n');
  beforeAll(async () => {
    lab = await openLab({ rollbackDrainMs: 2 * MIN, manifestReissueMs: 10 * MIN });
    proxy = await ReplayProxy.start(lab.url);
  });
  afterAll(async () => {
    await proxy.close();
    await lab.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a withdrawn candidate is refused when replayed (replay; stale for a host that never saw newer), a tampered body and artifact are refused and counted', async () => {
    const a291 = lab.artifact('c-7.16.291.bin', v291);
    // 7.16.292's artifact is fetched through the proxy too, so that it can tamper with it.
    const a292 = { ...lab.artifact('c-7.16.292.bin', v292), url: `${proxy.url}/artifacts/c-7.16.292.bin` };
    const installer = new RecordingInstaller(path.join(tmp, 'canary'));
    const canary = await Agent.open(agentOptions(lab, path.join(tmp, 'canary'), { controller: proxy.url, installer, maxAgeMs: 30 * MIN }));
    // A second canary host that will sleep through the rollback.
    const sleeperDir = path.join(tmp, 'sleeper');
    const sleeper = await Agent.open(agentOptions(lab, sleeperDir, { controller: proxy.url, hostId: 'host-2', maxAgeMs: 30 * MIN }));

    // 7.16.291 rolls out and succeeds: both hosts take it (canary ring, then as the stable version).
    expect((await lab.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', a291), 'alice')).status).toBe('created');
    await lab.advance(MIN);
    expect(await canary.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'installed', version: '7.16.291', started: true }, onDesired: true });
    await lab.advance(25 * MIN);
    expect(lab.controller.getRollout('r291')?.phase.kind).toBe('succeeded');
    expect(await canary.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'on-desired', version: '7.16.291' }, onDesired: true });
    expect(await sleeper.pollOnce()).toMatchObject({ action: { kind: 'installed', version: '7.16.291' } });

    // 7.16.292 reaches ring 0: the canary installs it; the manifest that offers it is recorded.
    expect((await lab.controller.applyRollout(rolloutOf('r292', '7.16.292', '7.16.291', a292), 'alice')).status).toBe('created');
    await lab.advance(MIN);
    let text = await canary.metrics.text();
    const offered = await canary.pollOnce();
    expect(offered).toMatchObject({ manifest: 'accepted', action: { kind: 'installed', version: '7.16.292', started: true } });
    const rOffered = offered.revision;
    expect(proxy.recorded.has(rOffered)).toBe(true);
    expect(activeBytes(path.join(tmp, 'canary'))).toEqual({ version: '7.16.292', sha256: a292.sha256 });

    // Every series of the candidate exists at 0 once the agent knows of it (before anything went wrong).
    text = await canary.metrics.text();
    for (const reason of ['signature', 'hash', 'download', 'apply', 'validation']) expect([reason, failures(text, '7.16.292', reason)]).toEqual([reason, 0]);
    expect(metricValue(text, `ringmaster_agent_hosts{channel="${CHANNEL}",version="7.16.292",ring="canary"}`)).toBe(1);

    // A tampered manifest body: refused (signature), counted against the candidate it names, nothing changes.
    proxy.tamper((b) => flipByte(b));
    const tampered = await canary.pollOnce();
    expect(tampered).toMatchObject({ manifest: 'refused', refusal: { reason: 'signature' }, revision: rOffered, onDesired: false });
    text = await canary.metrics.text();
    expect(refusals(text, 'signature')).toBe(1);
    expect(failures(text, '7.16.292', 'signature')).toBe(1);
    proxy.pass();

    // A tampered artifact, for a new canary host: refused (hash), counted, nothing installed.
    const freshDir = path.join(tmp, 'fresh');
    const fresh = await Agent.open(agentOptions(lab, freshDir, { controller: proxy.url, hostId: 'host-4', maxAgeMs: 30 * MIN }));
    proxy.override('/artifacts/c-7.16.292.bin', (r) => ({ ...r, body: flipByte(r.body) }));
    const badBytes = await fresh.pollOnce();
    expect(badBytes).toMatchObject({ manifest: 'accepted', action: { kind: 'failed', version: '7.16.292', reason: 'hash' }, onDesired: false });
    expect(failures(await fresh.metrics.text(), '7.16.292', 'hash')).toBe(1);
    expect(activeBytes(freshDir)).toBeNull();
    expect(fs.existsSync(path.join(freshDir, 'versions'))).toBe(false);
    proxy.override('/artifacts/c-7.16.292.bin', undefined);
    await fresh.close();
    const sleeperRevision = sleeper.status().revision;

    // The rollout is rolled back: the canary returns to 7.16.291 (its last-known-good, already on disk).
    expect((await lab.controller.request('r292', 'rollback', 'alice', 'crashes')).status).toBe('applied');
    const back = await canary.pollOnce();
    expect(back).toMatchObject({ manifest: 'accepted', action: { kind: 'installed', version: '7.16.291' }, onDesired: true });
    await lab.advance(5 * MIN);
    expect(lab.controller.getRollout('r292')?.phase.kind).toBe('rolled-back');
    const after = await canary.pollOnce();
    expect(after.revision).toBeGreaterThan(rOffered);
    const installsBefore = installer.installs.length;

    // The proxy replays the revision that offered 7.16.292: refused (replay), counted, the host keeps 7.16.291.
    proxy.replay(rOffered);
    for (let i = 0; i < 3; i++) {
      const r = await canary.pollOnce();
      expect(r).toMatchObject({ manifest: 'refused', refusal: { reason: 'replay' }, revision: after.revision, onDesired: false });
    }
    text = await canary.metrics.text();
    expect(refusals(text, 'replay')).toBe(3);
    expect(failures(text, '7.16.292', 'signature')).toBe(1); // a replay is no update failure
    expect(installer.installs.slice(installsBefore)).toEqual([]);
    expect(activeBytes(path.join(tmp, 'canary'))).toEqual({ version: '7.16.291', sha256: a291.sha256 });
    expect(canary.status()).toMatchObject({ version: '7.16.291', revision: after.revision });

    // The sleeper never saw a revision after rOffered's predecessor, so the replay is not older than what it has:
    // the maximum age refuses it once the manifest is older than 30 min (the controller re-issues every 10 min).
    expect(sleeperRevision).toBeLessThan(rOffered);
    await lab.advance(35 * MIN);
    const stale = await sleeper.pollOnce();
    expect(stale).toMatchObject({ manifest: 'refused', refusal: { reason: 'stale' }, revision: sleeperRevision });
    expect(refusals(await sleeper.metrics.text(), 'stale')).toBe(1);
    expect(activeBytes(sleeperDir)?.version).toBe('7.16.291');

    // Replays stop: both agents take the controller's current (re-issued, fresh) manifest and stay on 7.16.291.
    proxy.pass();
    expect(await canary.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'on-desired', version: '7.16.291' }, onDesired: true });
    expect(await sleeper.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'on-desired', version: '7.16.291' }, onDesired: true });
    expect(installer.installs.slice(installsBefore)).toEqual([]);

    // The replay state survives a restart of the agent: the replayed revision is refused again.
    await canary.close();
    const reopened = await Agent.open(agentOptions(lab, path.join(tmp, 'canary'), { controller: proxy.url, installer, maxAgeMs: 30 * MIN }));
    proxy.replay(rOffered);
    expect(await reopened.pollOnce()).toMatchObject({ manifest: 'refused', refusal: { reason: 'replay' } });
    proxy.pass();
    await reopened.close();
    await sleeper.close();
  });

  test('with --publisher-key, an unsigned artifact is refused (signature) and a signed one is installed', async () => {
    const pub = generateKeyPair();
    const parsed = parsePublicKey(publicKeyRaw(pub.publicKey).toString('base64'));
    if (!parsed.ok) throw new Error(parsed.message);
    const publisherKeys = [{ name: 'release', key: parsed.key }];
    const dir = path.join(tmp, 'signed');
    const agent = await Agent.open(agentOptions(lab, dir, { hostId: 'host-3', publisherKeys }));
    // The channel's stable version (7.16.291) was published unsigned.
    const unsigned = await agent.pollOnce();
    expect(unsigned).toMatchObject({ manifest: 'accepted', action: { kind: 'failed', version: '7.16.291', reason: 'signature' } });
    expect(failures(await agent.metrics.text(), '7.16.291', 'signature')).toBe(1);
    expect(activeBytes(dir)).toBeNull();
    // A signed rollout of 7.16.293.
    const bytes = Buffer.from('{"format":"sensor-content/v1","version":"7.16.293"}\n');
    const a = lab.artifact('c-7.16.293.bin', bytes);
    const signed = { ...a, signature: signArtifactDigest(pub.privateKey, a.sha256) };
    expect((await lab.controller.applyRollout(rolloutOf('r293', '7.16.293', '7.16.291', signed), 'alice')).status).toBe('created');
    await lab.advance(MIN);
    expect(await agent.pollOnce()).toMatchObject({ action: { kind: 'installed', version: '7.16.293', started: true }, onDesired: true });
    expect(activeBytes(dir)).toEqual({ version: '7.16.293', sha256: a.sha256 });
    await agent.close();
  });
});

describe('reference agent: a 304 does not make an old manifest young', () => {
  test('after a 304 the stored manifest is checked again: older than the maximum age, it is refused (stale)', async () => {
    // A controller that does not re-issue within the test, and a rollout that stays in its canary ring.
    const lab = await openLab({ manifestReissueMs: 7 * 24 * 60 * MIN });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-304-'));
    try {
      const a = lab.artifact('c-7.16.291.bin', Buffer.from('7.16.291\n'));
      const spec = rolloutOf('r291', '7.16.291', '7.16.290', a).spec;
      await lab.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', a, { rings: spec.rings.map((r) => ({ ...r, bake: '2d' })) }), 'alice');
      await lab.advance(MIN);
      const agent = await Agent.open(agentOptions(lab, dir, { maxAgeMs: 30 * MIN }));
      expect(await agent.pollOnce()).toMatchObject({ manifest: 'accepted', action: { kind: 'installed', version: '7.16.291' } });
      expect(await agent.pollOnce()).toMatchObject({ manifest: 'not-modified', onDesired: true });
      await lab.advance(31 * MIN, 31 * MIN);
      expect(await agent.pollOnce()).toMatchObject({ manifest: 'refused', refusal: { reason: 'stale' }, onDesired: false });
      // The ETag was dropped: the whole (still old) manifest comes back, and is refused again.
      expect(await agent.pollOnce()).toMatchObject({ manifest: 'refused', refusal: { reason: 'stale' } });
      expect(refusals(await agent.metrics.text(), 'stale')).toBe(2);
      expect(activeBytes(dir)?.version).toBe('7.16.291');
      await agent.close();
    } finally {
      await lab.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
