/**
 * The one error format of the API: `{"error":{"code","message","requestId"}}` (plus `details` for
 * validation errors). Messages are written for operators: one line, no stack trace, no server paths,
 * no secrets. The stack of an unexpected error goes to the server log only, under the request id.
 */
import type * as http from 'node:http';

/** Machine-readable error codes, one per way a request can fail. */
export type ErrorCode =
  | 'bad_request'
  | 'bad_header'
  | 'malformed_body'
  | 'invalid_request'
  | 'invalid_rollout'
  | 'invalid_policy'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'header_too_large'
  | 'not_ready'
  | 'internal';

/** An expected failure of a request, thrown by handlers and rendered by the error middleware. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly extra: { details?: string[]; headers?: Record<string, string> } = {},
  ) {
    super(oneLine(message));
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: string[] };
}

export function errorBody(code: ErrorCode, message: string, requestId: string, details?: string[]): ErrorBody {
  const error: ErrorBody['error'] = { code, message: oneLine(message), requestId };
  if (details !== undefined) error.details = details.map(oneLine);
  return { error };
}

/** Writes an error response on a raw node:http response (also used by the express error handler). */
export function sendError(
  res: http.ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  requestId: string,
  extra: { details?: string[]; headers?: Record<string, string> } = {},
): void {
  if (res.headersSent || res.destroyed || res.socket?.destroyed === true) {
    // Nothing can be said any more (the client went away, or a response is under way): just drop it.
    res.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify(errorBody(code, message, requestId, extra.details)));
  res.statusCode = status;
  for (const [k, v] of Object.entries(extra.headers ?? {})) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}

/** Generic wording for statuses raised by the framework (express, node) rather than by our handlers. */
export function codeForStatus(status: number): { code: ErrorCode; message: string } {
  switch (status) {
    case 400:
      return { code: 'bad_request', message: 'bad request' };
    case 401:
      return { code: 'unauthorized', message: 'authentication required' };
    case 403:
      return { code: 'forbidden', message: 'forbidden' };
    case 404:
      return { code: 'not_found', message: 'not found' };
    case 405:
      return { code: 'method_not_allowed', message: 'method not allowed' };
    case 413:
      return { code: 'payload_too_large', message: 'request body too large' };
    case 415:
      return { code: 'unsupported_media_type', message: 'unsupported media type' };
    case 431:
      return { code: 'header_too_large', message: 'request headers too large' };
    default:
      return status >= 400 && status < 500 ? { code: 'bad_request', message: 'bad request' } : { code: 'internal', message: 'internal error' };
  }
}

export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
