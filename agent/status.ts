/**
 * What `ringmaster-agent status --json` prints: the state directory as the agent left it, read without the
 * network and without changing anything.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BadMark, BootMarker } from '../controller/engine/agent';
import type { AgentState, LastStart } from './state';

export interface AgentStatus {
  channel: string;
  /** The active version (state.json), null when none is installed. */
  version: string | null;
  sha256: string | null;
  /** The rollout whose candidate it is (null: the stable version). */
  rollout: string | null;
  /** The last accepted manifest revision. */
  revision: number;
  issuedAt: string | null;
  /** Last-known-good. */
  previous: string | null;
  bootMarker: BootMarker | null;
  bad: BadMark[];
  trustedKeys: string[];
  lastStart: LastStart | null;
}

export function statusOf(s: AgentState): AgentStatus {
  const cur = s.boot.current;
  return {
    channel: s.channel,
    version: cur?.version ?? null,
    sha256: cur?.sha256 ?? null,
    rollout: cur?.rollout ?? null,
    revision: s.replay.revision,
    issuedAt: s.replay.issuedAt,
    previous: s.boot.previous?.version ?? null,
    bootMarker: s.boot.boot,
    bad: s.boot.bad,
    trustedKeys: s.trust.map((k) => k.keyId),
    lastStart: s.lastStart,
  };
}

/** Where DIR/current and DIR/previous point (the FileInstaller's symlinks): a version name, or null. */
export function linksOf(dir: string): { current: string | null; previous: string | null } {
  const read = (name: string): string | null => {
    try {
      return path.basename(fs.readlinkSync(path.join(dir, name)));
    } catch {
      return null;
    }
  };
  return { current: read('current'), previous: read('previous') };
}
