/**
 * Reading and decoding request bodies, with the limits the API promises: a size cap (413), an explicit
 * list of media types (415), well-formed UTF-8 only (400, checked as bytes by spec/text.ts before any parser runs),
 * and one-line messages that never echo the body back.
 */
import type * as http from 'node:http';
import { decodeUtf8 } from '../spec/text';
import { ApiError } from './errors';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A body over the limit is still drained (and dropped) up to this multiple of it, so the client reads a clean 413. */
const DRAIN_FACTOR = 8;

export interface MediaType {
  type: string;
  charset: string | undefined;
}

/** `application/json; charset=utf-8` -> {type: 'application/json', charset: 'utf-8'}; undefined when malformed. */
export function parseMediaType(header: string): MediaType | undefined {
  const [head, ...params] = header.split(';');
  const type = (head ?? '').trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return undefined;
  let charset: string | undefined;
  for (const p of params) {
    const m = /^\s*([A-Za-z0-9!#$&^_.+-]+)\s*=\s*("?)([^";]*)\2\s*$/.exec(p);
    if (!m) {
      if (p.trim() === '') continue;
      return undefined;
    }
    if ((m[1] ?? '').toLowerCase() === 'charset') charset = (m[3] ?? '').toLowerCase();
  }
  return { type, charset };
}

/** True when the request announces or carries a body. */
export function hasBody(req: http.IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Checks the Content-Type against `accepted` (lower-case media types) and reads the body as UTF-8 text.
 * `optional`: an empty body without a Content-Type is accepted and read as ''.
 */
export async function readTextBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: { accepted: readonly string[]; maxBytes: number; optional?: boolean },
): Promise<string> {
  const announced = hasBody(req);
  const ctHeader = req.headers['content-type'];
  if (!announced && ctHeader === undefined) {
    if (opts.optional) return '';
    throw new ApiError(400, 'malformed_body', `a body is required (Content-Type: ${opts.accepted.join(', ')})`);
  }
  if (ctHeader === undefined) {
    throw new ApiError(415, 'unsupported_media_type', `missing Content-Type (accepted: ${opts.accepted.join(', ')})`);
  }
  const media = parseMediaType(ctHeader);
  if (!media) throw new ApiError(415, 'unsupported_media_type', `malformed Content-Type (accepted: ${opts.accepted.join(', ')})`);
  if (!opts.accepted.includes(media.type)) {
    throw new ApiError(415, 'unsupported_media_type', `unsupported Content-Type ${media.type.slice(0, 100)} (accepted: ${opts.accepted.join(', ')})`);
  }
  if (media.charset !== undefined && media.charset !== 'utf-8' && media.charset !== 'utf8') {
    throw new ApiError(415, 'unsupported_media_type', 'unsupported charset (only utf-8)');
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new ApiError(415, 'unsupported_media_type', 'compressed request bodies are not accepted (Content-Encoding must be identity)');
  }
  const raw = await readRaw(req, res, opts.maxBytes);
  if (raw.length === 0 && opts.optional) return '';
  // Refused as bytes, before any parser sees them: overlong forms, UTF-8-encoded surrogates, truncated sequences.
  const text = decodeUtf8(raw);
  if (!text.ok) throw new ApiError(400, 'malformed_body', `the body is ${text.message}`);
  return text.text;
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `request body larger than ${maxBytes} bytes`, { headers: { Connection: 'close' } });
}

/** Reads at most maxBytes; beyond that it drains (bounded) and fails with 413. */
export function readRaw(req: http.IncomingMessage, res: http.ServerResponse, maxBytes: number): Promise<Buffer> {
  const lenHeader = req.headers['content-length'];
  if (lenHeader !== undefined) {
    // node has already rejected non-numeric and conflicting lengths with 400.
    const declared = Number(lenHeader);
    if (Number.isFinite(declared) && declared > maxBytes) {
      return drainThen(req, maxBytes * DRAIN_FACTOR, tooLarge(maxBytes));
    }
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (chunk: Buffer): void => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        cleanup();
        drainThen(req, maxBytes * DRAIN_FACTOR - size, tooLarge(maxBytes)).catch(reject);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      if (!failed) resolve(Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      failed = true;
      res.destroy();
      reject(new ApiError(400, 'malformed_body', 'the request body was interrupted'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

/** Discards the rest of the body (up to `budget` bytes), then fails with `err`; past the budget it fails at once. */
function drainThen(req: http.IncomingMessage, budget: number, err: ApiError): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    let left = budget;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', finish);
      req.off('error', finish);
      req.off('aborted', finish);
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      left -= chunk.length;
      if (left < 0) finish();
    };
    if (req.readableEnded || left <= 0) {
      finish();
      return;
    }
    req.on('data', onData);
    req.on('end', finish);
    req.on('error', finish);
    req.on('aborted', finish);
    req.resume();
  });
}
