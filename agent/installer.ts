/**
 * Installers: how the agent puts a version on the host. The agent decides (engine/agent.ts) and keeps the state
 * (agent/state.ts); an Installer only writes, switches and starts. A fleet's own agent plugs in its own (a package
 * manager, a service restart); the shipped one is FileInstaller.
 *
 * ## FileInstaller: the state directory layout
 *   DIR/versions/<version>   each installed artifact, written atomically (temp file, fsync, rename, fsync dir)
 *   DIR/current -> versions/<version>    the active version (a symlink, switched atomically)
 *   DIR/previous -> versions/<version>   last-known-good (absent when there is none)
 * A symlink is switched by creating a temporary symlink beside it and renaming it over the old one, then fsyncing
 * the directory: a reader (and a `kill -9`) sees the old target or the new one, never a missing or half link. An
 * artifact is renamed into place only once it is whole and on disk, so `current` always resolves to whole bytes.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InstalledVersion } from '../controller/engine/agent';
import type { Logger } from '../controller/telemetry/log';
import { silentLogger } from '../controller/telemetry/log';
import { syncDirectory, writeDurably } from './state';
import { linksOf } from './status';

export interface Installer {
  /** Whether this exact artifact (version and sha256) is installed already (a download can be skipped). */
  has(v: InstalledVersion): Promise<boolean>;
  /** Makes the bytes of `v` durable on the host, not active yet. Throws InstallError when it cannot. */
  install(v: InstalledVersion, bytes: Buffer): Promise<void>;
  /**
   * Makes `current` the active version and `previous` the fallback, atomically each; idempotent (the agent also
   * calls it at start to repair what a crash left half-switched). Throws InstallError when it cannot.
   */
  activate(current: InstalledVersion | null, previous: InstalledVersion | null): Promise<void>;
  /** Starts the active version: resolves true when it started healthy, false when it did not. Never throws. */
  start(v: InstalledVersion): Promise<boolean>;
  /** Drops every installed artifact but these (optional). */
  prune?(keep: readonly InstalledVersion[]): Promise<void>;
}

/** An installation problem (one line, for the log and the `apply` failure count). */
export class InstallError extends Error {}

export interface FileInstallerOptions {
  /** Run after each activation and at each start: exit 0 within `startTimeoutMs` means started. Never a shell. */
  startCommand?: string;
  startArgs?: string[];
  /** Default 60 s. */
  startTimeoutMs?: number;
  log?: Logger;
  /** Called after each chunk of an artifact is written (tests slow the write down with it). */
  onWrite?: (version: string, written: number, total: number) => void;
}

/** A version is a file name here: refuse anything that could leave versions/ (the manifest is signed, but still). */
const SAFE_NAME = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$/;

export class FileInstaller implements Installer {
  readonly versionsDir: string;

  constructor(
    readonly dir: string,
    private readonly opts: FileInstallerOptions = {},
  ) {
    this.versionsDir = path.join(dir, 'versions');
  }

  /** The path of an installed version's artifact. */
  pathOf(version: string): string {
    if (!SAFE_NAME.test(version) || version.includes('..')) throw new InstallError(`version ${JSON.stringify(version)} cannot be a file name`);
    return path.join(this.versionsDir, version);
  }

  async has(v: InstalledVersion): Promise<boolean> {
    return (await sha256OfFile(this.pathOf(v.version))) === v.sha256;
  }

  async install(v: InstalledVersion, bytes: Buffer): Promise<void> {
    const file = this.pathOf(v.version);
    if ((await sha256OfFile(file)) === v.sha256) return;
    const links = this.active();
    if (fs.existsSync(file) && (links.current === v.version || links.previous === v.version)) {
      throw new InstallError(`version ${v.version} is installed with another artifact and is in use (${links.current === v.version ? 'current' : 'previous'}); not replacing it`);
    }
    try {
      fs.mkdirSync(this.versionsDir, { recursive: true });
      const tmp = path.join(this.versionsDir, `.${v.version}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
      writeDurably(tmp, bytes, 0o644, this.opts.onWrite ? (n) => this.opts.onWrite?.(v.version, n, bytes.length) : undefined);
      fs.renameSync(tmp, file);
      syncDirectory(this.versionsDir);
    } catch (err) {
      throw new InstallError(`cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  async activate(current: InstalledVersion | null, previous: InstalledVersion | null): Promise<void> {
    try {
      this.link('previous', previous?.version ?? null);
      this.link('current', current?.version ?? null);
    } catch (err) {
      if (err instanceof InstallError) throw err;
      throw new InstallError(`cannot switch ${path.join(this.dir, 'current')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }

  async start(v: InstalledVersion): Promise<boolean> {
    const command = this.opts.startCommand;
    if (command === undefined) return true;
    const log = this.opts.log ?? silentLogger;
    const timeoutMs = this.opts.startTimeoutMs ?? 60_000;
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (ok: boolean, why: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (!ok) log.warn({ version: v.version, command }, `start of ${v.version} failed: ${why}`);
        resolve(ok);
      };
      const child = spawn(command, this.opts.startArgs ?? [], {
        shell: false,
        detached: true,
        stdio: 'ignore',
        cwd: this.dir,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', RINGMASTER_VERSION: v.version, RINGMASTER_SHA256: v.sha256, RINGMASTER_ARTIFACT: path.join(this.dir, 'current') },
      });
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        finish(false, `no exit within ${timeoutMs} ms`);
      }, timeoutMs);
      child.on('error', (err: NodeJS.ErrnoException) => finish(false, `cannot run ${command} (${err.code ?? err.message})`));
      child.on('exit', (code, signal) => finish(code === 0, signal !== null ? `killed by ${signal}` : `exit code ${code ?? '?'}`));
    });
  }

  async prune(keep: readonly InstalledVersion[]): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.versionsDir);
    } catch {
      return;
    }
    const kept = new Set(keep.map((k) => k.version));
    for (const n of names) if (!kept.has(n)) fs.rmSync(path.join(this.versionsDir, n), { force: true, recursive: true });
    for (const n of fs.readdirSync(this.dir)) if (/^\.(current|previous)\..*\.tmp$/.test(n)) fs.rmSync(path.join(this.dir, n), { force: true });
  }

  /** The versions the symlinks point at now (null: no link). */
  active(): { current: string | null; previous: string | null } {
    return linksOf(this.dir);
  }

  /** Points DIR/<name> at versions/<version> (or removes it), atomically, and syncs the directory. */
  private link(name: 'current' | 'previous', version: string | null): void {
    const at = path.join(this.dir, name);
    if (version === null) {
      if (linksOf(this.dir)[name] === null && !fs.existsSync(at)) return;
      fs.rmSync(at, { force: true });
      syncDirectory(this.dir);
      return;
    }
    const target = path.join('versions', path.basename(this.pathOf(version)));
    let now: string | null = null;
    try {
      now = fs.readlinkSync(at);
    } catch {
      now = null;
    }
    if (now === target) return;
    const tmp = path.join(this.dir, `.${name}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, at);
    syncDirectory(this.dir);
  }
}

/** sha256 (hex) of a file's bytes, null when there is no such file. */
export async function sha256OfFile(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    const h = crypto.createHash('sha256');
    const s = fs.createReadStream(file);
    s.on('error', () => resolve(null));
    s.on('data', (c) => h.update(c));
    s.on('end', () => resolve(h.digest('hex')));
  });
}
