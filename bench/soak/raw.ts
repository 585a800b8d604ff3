/**
 * One raw HTTP/1.1 exchange over a loopback socket, for the malformed inputs of part 2: the request bytes as
 * they are, then the response parsed (status, headers, body; chunked bodies joined). Unlike the tests'
 * rawRequest (test/helpers/api-harness.ts), the client keeps its side of the connection open until the
 * answer arrives, as curl and browsers do: node's server drops a half-closed connection whose answer is still
 * pending, so a half-close would hide the answers of every handler that awaits something. `halfClose` is
 * only for bodies shorter than their Content-Length, where the end of the stream is the point of the case.
 */
import * as net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function rawExchange(port: number, request: Buffer, opts: { timeoutMs: number; halfClose?: boolean }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is fine; no answer is caught below
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const text = raw.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m || headEnd < 0) {
        reject(new Error(`connection closed without an answer (${raw.length} bytes: ${JSON.stringify(text.slice(0, 60))})`));
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, headEnd).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body: Buffer = Buffer.from(raw.subarray(headEnd + 4));
      if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body);
      resolve({ status: Number(m[1]), headers, body: body.toString('utf8') });
    });
    if (opts.halfClose) socket.end(request);
    else socket.write(request);
  });
}

function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const eol = buf.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) break;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
