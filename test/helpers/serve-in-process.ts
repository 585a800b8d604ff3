/**
 * `ringmaster serve` run in the test's own process (main(['serve', ...])), its stdout and stderr captured, started
 * once its signing-key line is printed, stopped with SIGTERM.
 */
import { main } from '../../controller/cli/ringmaster';

export interface RunningServe {
  url: string;
  publicKey: string;
  keyId: string;
  stdout: () => string;
  stderr: () => string;
  done: Promise<number>;
}

/** Starts main(['serve', ...]) in this process and waits for its "listening on" and signing-key lines. */
export async function startServe(args: string[]): Promise<RunningServe> {
  let out = '';
  let err = '';
  const outSpy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    out += c.toString();
    return true;
  });
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    err += c.toString();
    return true;
  });
  const done = main(['serve', ...args]).finally(() => {
    outSpy.mockRestore();
    errSpy.mockRestore();
  });
  let exited: number | undefined;
  void done.then((c) => (exited = c));
  const deadline = Date.now() + 15_000;
  while (!/signing key/.test(out)) {
    if (exited !== undefined) throw new Error(`serve exited ${exited}: ${err}`);
    if (Date.now() > deadline) throw new Error(`serve did not start: ${out} ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
  const key = /ed25519 (\S+) \(key id ([0-9a-f]+)\)/.exec(out);
  return { url, publicKey: key?.[1] as string, keyId: key?.[2] as string, stdout: () => out, stderr: () => err, done };
}

/** SIGTERM to the in-process server; resolves to its exit code. */
export async function stopServe(r: RunningServe): Promise<number> {
  process.emit('SIGTERM', 'SIGTERM');
  return r.done;
}
