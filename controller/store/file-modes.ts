/**
 * File modes of what Ringmaster keeps on disk: the data directory is 0700 when Ringmaster creates it, and the
 * SQLite store (with its -wal and -shm files) and every private key file are 0600, whatever the process umask.
 *
 * Modes are set explicitly (chmod after create), not left to the umask: `open(..., 0o600)` only ever removes
 * bits, but an existing file keeps whatever mode it had, and SQLite creates the -wal and -shm files lazily with
 * the mode of the database file. An existing data directory that others can enter is not changed (it may be
 * shared on purpose, e.g. a mounted volume) but is named in one warning line on the logger.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { createLogger, type Logger } from '../telemetry/log';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Directories (and files) already warned about in this process: one line each, however many opens. */
const warned = new Set<string>();
let defaultLog: Logger | undefined;

function warnLog(log: Logger | undefined): Logger {
  if (log) return log;
  defaultLog ??= createLogger();
  return defaultLog;
}

/**
 * Makes sure `dir` exists. A directory created here (and any missing parent) is 0700. With `warnAs` (what the
 * directory is, e.g. "data directory"), an existing one that its group or others may read, write or enter gets
 * one warning line, and is left as it is.
 */
export function ensurePrivateDir(dir: string, opts: { log?: Logger; warnAs?: string } = {}): void {
  const abs = path.resolve(dir);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!st) {
    const first = fs.mkdirSync(abs, { recursive: true, mode: PRIVATE_DIR_MODE });
    // mkdir's mode is masked by the umask (which could also strip the owner's bits): set each created level.
    if (first !== undefined) {
      for (let d = abs; d.length >= first.length; d = path.dirname(d)) {
        fs.chmodSync(d, PRIVATE_DIR_MODE);
        if (d === first) break;
      }
    }
    return;
  }
  if (!st.isDirectory()) return; // opening a file inside it fails with ENOTDIR, which the caller reports
  const others = st.mode & 0o077;
  if (opts.warnAs !== undefined && others !== 0 && !warned.has(abs)) {
    warned.add(abs);
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    const who = [(others & 0o070) !== 0 ? 'its group' : '', (others & 0o007) !== 0 ? 'other users' : ''].filter((w) => w !== '').join(' and ');
    warnLog(opts.log).warn({ dir, mode }, `${opts.warnAs} ${dir} is accessible to ${who} (mode ${mode}); ringmaster keeps its files 0600, but run: chmod 700 ${dir}`);
  }
}

/**
 * Sets `file` to 0600 if it exists (files SQLite or an older version created); true when it exists. A file this
 * process may not chmod (another owner: EPERM) is left as it is, with one warning line.
 */
export function restrictFile(file: string, opts: { log?: Logger } = {}): boolean {
  try {
    fs.chmodSync(file, PRIVATE_FILE_MODE);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code !== 'EPERM') throw err;
    if (warned.has(file)) return true;
    warned.add(file);
    const mode = (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');
    warnLog(opts.log).warn({ file, mode }, `cannot make ${file} private (EPERM: another user owns it); it stays mode ${mode}`);
    return true;
  }
}

/**
 * Creates `file` with mode 0600 and `content`, refusing to overwrite (flag wx). The mode is set on the open
 * descriptor before the content is written, so the content is never readable by others, whatever the umask.
 */
export function writePrivateFile(file: string, content: string | Buffer): void {
  const fd = fs.openSync(file, 'wx', PRIVATE_FILE_MODE);
  try {
    fs.fchmodSync(fd, PRIVATE_FILE_MODE);
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Runs `fn` with the process umask at 077, so that any file created meanwhile (SQLite's database, -wal, -shm)
 * is born without group or other bits. `fn` must be synchronous: the umask is process-wide, and restored before
 * anything else can run. Worker threads cannot change the umask; there `fn` runs as it is (the chmods still apply).
 */
export function withPrivateUmask<T>(fn: () => T): T {
  if (!isMainThread) return fn();
  const previous = process.umask(0o077);
  try {
    return fn();
  } finally {
    process.umask(previous);
  }
}

/**
 * Opens an SQLite database file privately: the directory as `ensurePrivateDir`, the file and its -wal/-shm
 * created under umask 077 by `open`, then all three set to 0600 (also when they existed before).
 */
export function openPrivateDatabase<T>(file: string, open: () => T, opts: { log?: Logger } = {}): T {
  ensurePrivateDir(path.dirname(file), { ...opts, warnAs: 'data directory' });
  const db = withPrivateUmask(() => {
    restrictFile(file, opts);
    return open();
  });
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) restrictFile(f, opts);
  return db;
}
