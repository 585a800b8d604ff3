/**
 * The management API (express 5). Handlers stay thin: authorise, read and check the input, call one
 * service method, render the result. Every failure is an ApiError rendered by one error handler, so no
 * response ever carries a stack trace, and bad input never turns into a 5xx.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RequestVerb } from '../engine/state';
import { ServiceClosedError, type ControllerService } from '../runtime/service';
import type { Logger } from '../telemetry/log';
import { formatSpecError } from '../spec/errors';
import { NAME_PATTERN } from '../spec/schema';
import { auditSourceOf, type AuditSource } from '../store/audit-source';
import { textFlaw } from '../spec/text';
import { authorizeRequest, type AuthContext, type Permission, type Principal } from './auth';
import { readTextBody } from './body';
import { ApiError, codeForStatus, sendError } from './errors';
import { EventHub } from './events';
import { BODY_SOURCE, loadRolloutBody, locateInBody } from './rollout-input';
import { parsePolicyText } from '../spec/load';
import type { Policy } from '../spec/types';
import type { ApiMetrics } from './server';
import { identityRoutes, twoPersonGuard } from './identity-routes';
import { separatedVerbOf } from '../policy/two-person';

export interface AppContext {
  auth: AuthContext;
  observer: ApiMetrics;
  maxBodyBytes: number;
  /** Refusals of credentials (401, 403) at warn, unexpected errors at error with the stack, every request at debug. */
  log: Logger;
  /** Served at GET /artifacts/NAME when set. */
  artifactsDir?: string;
  /** The dashboard's static files (index.html, app.js, style.css), served at /ui/; default: the package's dist/ui. */
  uiDir?: string;
  /** Live updates (GET /v1/events); created here when not given. */
  events?: EventHub;
}

/** The dashboard's headers: nothing inline, nothing from elsewhere, never framed. */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const UI_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
/** Where dist/ui is from dist/controller/api (the built package). */
export const DEFAULT_UI_DIR = path.join(__dirname, '..', '..', 'ui');

/** An artifact file name: no separators, no leading dot. */
const ARTIFACT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

export const ROLLOUT_MEDIA_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml', 'application/json'] as const;
const JSON_MEDIA_TYPES = ['application/json'] as const;
/** The verbs of POST /v1/rollouts/NAME/VERB (promote with {"full": true} is the engine's promote-full). */
export const VERBS = ['pause', 'resume', 'approve', 'abort', 'rollback', 'promote', 'retry'] as const satisfies readonly RequestVerb[];
type ApiVerb = (typeof VERBS)[number];
const isApiVerb = (v: unknown): v is ApiVerb => typeof v === 'string' && (VERBS as readonly string[]).includes(v);
export const MAX_REASON_LENGTH = 512;
export const MAX_AUDIT_LIMIT = 1000;
const DEFAULT_AUDIT_LIMIT = 100;

const NAME_RE = new RegExp(NAME_PATTERN);

/** The authenticated caller of a request, set by `need`. */
interface Locals {
  principal: Principal | null;
}

export function principalOf(res: Response): Principal | null {
  return (res.locals as Locals).principal ?? null;
}

/** The actor recorded in the audit log: the token's name, never the token. */
function actorOf(res: Response): string {
  const p = principalOf(res);
  if (!p) throw new Error('mutation without an authenticated principal'); // authorize() never allows this
  return p.name;
}

function requestIdOf(res: Response): string {
  const v = res.getHeader('X-Request-Id');
  return typeof v === 'string' ? v : 'unknown';
}

export function createApp(service: ControllerService, ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = routeOf(req);
      ctx.observer.httpRequest(route, res.statusCode);
      // Never the headers: the Authorization header stays out of every log line.
      if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ requestId: requestIdOf(res), method: req.method, route, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
    });
    next();
  });

  const authorizeOrThrow = async (req: Request, res: Response, permission: Permission): Promise<void> => {
    const a = await authorizeRequest(ctx.auth, req.headers.authorization, req.socket.remoteAddress ?? 'unknown', permission);
    if (!a.ok) throw new ApiError(a.status, a.code, a.message, { headers: a.headers });
    (res.locals as Locals).principal = a.principal;
  };
  const need =
    (permission: Permission): RequestHandler =>
    async (req, res, next) => {
      await authorizeOrThrow(req, res, permission);
      next();
    };
  const channelName = (req: Request): string => {
    const channel = req.params.channel;
    if (typeof channel !== 'string' || channel.length > 253 || !NAME_RE.test(channel)) {
      throw new ApiError(400, 'invalid_request', 'invalid channel name (lower-case letters, digits, "-" and ".", at most 253 characters)');
    }
    return channel;
  };
  const rolloutName = (req: Request): string => {
    const name = req.params.name;
    if (typeof name !== 'string' || name.length > 253 || !NAME_RE.test(name)) {
      throw new ApiError(400, 'invalid_request', 'invalid rollout name (lower-case letters, digits, "-" and ".", at most 253 characters)');
    }
    return name;
  };

  // ---------------------------------------------------------------------------------------- operations

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    if (!service.ready()) throw new ApiError(503, 'not_ready', 'the controller is starting (store or first reconcile not done yet)');
    res.json({ status: 'ready' });
  });
  // Public, like most Prometheus targets: it carries rollout and channel names and counters, never secrets.
  app.get('/metrics', async (_req, res) => {
    ctx.observer.syncRollouts?.(service.listRollouts());
    ctx.observer.killSwitch?.(service.getKillSwitch().engaged);
    const text = await ctx.observer.metrics();
    res.setHeader('Content-Type', ctx.observer.contentType);
    res.send(text);
  });
  app.get('/v1/signing-key', (_req, res) => {
    res.json(service.signingKey());
  });
  if (ctx.artifactsDir !== undefined) {
    const dir = ctx.artifactsDir;
    // Public and read-only: the files of one directory, by plain name (no paths, no listing).
    app.get('/artifacts/:name', async (req, res) => {
      const name = String(req.params.name);
      if (!ARTIFACT_NAME_RE.test(name)) throw new ApiError(404, 'not_found', 'no such artifact');
      const file = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(file);
      } catch {
        throw new ApiError(404, 'not_found', 'no such artifact');
      }
      if (!st.isFile()) throw new ApiError(404, 'not_found', 'no such artifact');
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(st.size));
      res.setHeader('Cache-Control', 'no-cache');
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      await new Promise<void>((resolve) => {
        const stream = fs.createReadStream(file);
        stream.on('error', () => {
          res.destroy();
          resolve();
        });
        stream.on('end', () => resolve());
        stream.pipe(res);
      });
    });
  }

  // ---------------------------------------------------------------------------------------- dashboard, live updates

  const hub = ctx.events ?? new EventHub(service);
  hub.start();
  app.get('/v1/whoami', need('read'), (_req, res) => {
    const p = principalOf(res);
    const may = p ? [...p.permissions].filter((x) => x !== 'manifest') : ['read'];
    res.json({ actor: p?.name ?? null, role: p?.role ?? null, kind: p?.kind ?? null, roles: p?.roles ?? [], permissions: may });
  });
  identityRoutes(app, ctx.auth);
  app.get('/v1/events', need('read'), (req, res) => {
    if (hub.full()) throw new ApiError(503, 'not_ready', 'too many event streams open; retry later', { headers: { 'Retry-After': '5' } });
    const last = req.headers['last-event-id'];
    hub.attach(res, typeof last === 'string' ? last : undefined);
  });
  app.get('/v1/rollouts/:name/evidence', need('read'), (req, res) => {
    const name = rolloutName(req);
    if (!service.getRollout(name)) throw new ApiError(404, 'not_found', `no rollout named "${name}"`);
    res.json({ rollout: name, points: hub.evidence(name), note: 'in-memory: the verdicts this server saw since it started' });
  });
  const uiDir = ctx.uiDir ?? DEFAULT_UI_DIR;
  const uiHeaders = (res: Response): void => {
    res.setHeader('Content-Security-Policy', UI_CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  };
  app.get(['/ui/', '/ui/:file'], async (req, res) => {
    uiHeaders(res);
    // Routing is not strict: /ui lands here too, and relative asset URLs need the slash.
    if (!req.originalUrl.startsWith('/ui/')) {
      res.redirect(308, '/ui/');
      return;
    }
    const file = typeof req.params.file === 'string' ? req.params.file : 'index.html';
    const type = UI_FILES[file];
    if (type === undefined) throw new ApiError(404, 'not_found', 'no such dashboard file');
    let body: Buffer;
    try {
      body = await fs.promises.readFile(path.join(uiDir, file));
    } catch {
      throw new ApiError(404, 'not_found', 'the dashboard is not built (make build)');
    }
    res.setHeader('Content-Type', type);
    res.send(body);
  });

  // ---------------------------------------------------------------------------------------- rollouts

  app.post('/v1/rollouts', need('apply'), async (req, res) => {
    const supersede = flagParam(req.query.supersede, 'supersede');
    // Superseding withdraws the rollouts in flight: the caller needs the rollback permission too.
    if (supersede) await authorizeOrThrow(req, res, 'rollback');
    const actor = actorOf(res);
    // ?dryRun=true (apply --dry-run=server, diff): every check of apply, the same answer, nothing stored.
    const dryRun = flagParam(req.query.dryRun, 'dryRun');
    const checkApply = service.checkApply?.bind(service);
    if (dryRun && !checkApply) throw new ApiError(409, 'conflict', 'this controller cannot dry-run an apply');
    if (dryRun && supersede) throw new ApiError(400, 'invalid_request', 'dryRun and supersede together are not supported: dry-run the new rollout after the old one is withdrawn, or apply --supersede');
    const text = await readTextBody(req, res, { accepted: ROLLOUT_MEDIA_TYPES, maxBytes: ctx.maxBodyBytes });
    const input = await loadRolloutBody(text);
    if (!input.ok) throw invalidRollout(input.lines);
    if (supersede && service.supersede === undefined) throw new ApiError(409, 'conflict', 'this controller does not support supersede (the operator: delete the old Rollout, then apply the new one)');
    const result = dryRun && checkApply
      ? await checkApply(input.rollout, actor)
      : supersede && service.supersede
        ? await service.supersede(input.rollout, actor)
        : await service.applyRollout(input.rollout, actor);
    const dry = dryRun ? { dryRun: true } : {};
    switch (result.status) {
      case 'created':
        res.status(dryRun ? 200 : 201).json(result.superseded === undefined ? { status: 'created', ...dry, rollout: result.rollout } : { status: 'created', rollout: result.rollout, superseded: result.superseded });
        return;
      case 'unchanged':
        res.status(200).json({ status: 'unchanged', ...dry, rollout: result.rollout });
        return;
      case 'conflict':
        throw new ApiError(409, 'conflict', result.message);
      case 'invalid':
        // Same line format as the loader's; the file is always the request body, never a server path.
        throw invalidRollout(locateInBody(text, result.errors).map((e) => formatSpecError({ ...e, file: BODY_SOURCE })));
      default: {
        const _never: never = result;
        throw new Error(`unknown apply status ${String(_never)}`);
      }
    }
  });

  app.get('/v1/rollouts', need('read'), (req, res) => {
    // ?archived=true: deleted (archived) rollouts too (ringctl get --archived).
    const archived = flagParam(req.query.archived, 'archived');
    res.json({ rollouts: archived ? service.listRollouts({ archived: true }) : service.listRollouts() });
  });

  app.delete('/v1/rollouts/:name', need('archive'), async (req, res) => {
    const actor = actorOf(res);
    const name = rolloutName(req);
    const body = await readJsonObject(req, res, ctx.maxBodyBytes, { optional: true });
    checkFields(body, ['reason']);
    const reason = body.reason === undefined ? 'delete (archive) via API' : checkReason(body.reason, false);
    const archive = service.archiveRollout?.bind(service);
    if (!archive) throw new ApiError(409, 'conflict', 'this controller cannot archive rollouts (on Kubernetes: kubectl delete the Rollout object)');
    const result = await archive(name, actor, reason);
    switch (result.status) {
      case 'archived':
        res.json({ outcome: 'archived', rollout: result.rollout });
        return;
      case 'rejected':
        throw new ApiError(409, 'conflict', `delete refused: ${result.message}`);
      case 'not-found':
        throw new ApiError(404, 'not_found', `no rollout named "${name}"`);
      default: {
        const _never: never = result;
        throw new Error(`unknown archive status ${String(_never)}`);
      }
    }
  });

  // ---------------------------------------------------------------------------------------- policies

  app.get('/v1/policies', need('read'), (_req, res) => {
    const list = service.listPolicies?.bind(service);
    if (!list) throw new ApiError(404, 'not_found', 'this controller does not list its policies');
    res.json({ policies: list() });
  });

  app.post('/v1/policies', need('policy'), async (req, res) => {
    const actor = actorOf(res);
    const dryRun = flagParam(req.query.dryRun, 'dryRun');
    const apply = service.applyPolicy?.bind(service);
    if (!apply) throw new ApiError(409, 'conflict', 'this controller takes no policies through the API (on Kubernetes: kubectl apply a Policy object)');
    const text = await readTextBody(req, res, { accepted: ROLLOUT_MEDIA_TYPES, maxBytes: ctx.maxBodyBytes });
    const input = parsePolicyBody(text);
    if (!input.ok) throw invalidDocument('policy', input.lines);
    const result = await apply(input.policy, actor, { dryRun });
    switch (result.status) {
      case 'created':
      case 'configured':
      case 'unchanged':
        res.status(result.status === 'created' && !dryRun ? 201 : 200).json({ status: result.status, ...(dryRun ? { dryRun: true } : {}), policy: result.policy });
        return;
      case 'conflict':
        throw new ApiError(409, 'conflict', result.message);
      case 'invalid':
        throw invalidDocument('policy', result.errors.map((e) => formatSpecError({ ...e, file: BODY_SOURCE })));
      default: {
        const _never: never = result;
        throw new Error(`unknown policy apply status ${String(_never)}`);
      }
    }
  });

  app.delete('/v1/policies/:name', need('policy'), async (req, res) => {
    const actor = actorOf(res);
    const name = rolloutName(req);
    const body = await readJsonObject(req, res, ctx.maxBodyBytes, { optional: true });
    checkFields(body, ['reason']);
    const reason = body.reason === undefined ? 'delete policy via API' : checkReason(body.reason, false);
    const del = service.deletePolicy?.bind(service);
    if (!del) throw new ApiError(409, 'conflict', 'this controller takes no policies through the API');
    const result = await del(name, actor, reason);
    if (result.status === 'not-found') throw new ApiError(404, 'not_found', result.message);
    if (result.status === 'conflict') throw new ApiError(409, 'conflict', result.message);
    res.json({ outcome: 'deleted', policies: result.policies });
  });

  app.get('/v1/rollouts/:name', need('read'), (req, res) => {
    const name = rolloutName(req);
    const rollout = service.getRollout(name);
    if (!rollout) throw new ApiError(404, 'not_found', `no rollout named "${name}"`);
    res.json({ rollout });
  });

  // ---------------------------------------------------------------------------------------- channels

  app.get('/v1/channels/:channel', need('read'), (req, res) => {
    const channel = channelName(req);
    const view = service.getChannel(channel);
    if (!view) throw new ApiError(404, 'not_found', `no channel named "${channel}" (nothing was ever applied to it)`);
    res.json({ channel: view });
  });

  app.post('/v1/channels/:channel/undo', need('apply'), async (req, res) => {
    const channel = channelName(req);
    const actor = actorOf(res);
    const body = await readJsonObject(req, res, ctx.maxBodyBytes, { optional: false });
    checkFields(body, ['to', 'reason']);
    if (typeof body.to !== 'string' || body.to === '' || body.to.length > 128) throw new ApiError(422, 'invalid_request', 'to: required, the earlier stable version to go back to (1-128 characters)');
    const reason = body.reason === undefined ? `undo ${channel} to ${body.to} via API` : checkReason(body.reason, false);
    if (service.undo === undefined) throw new ApiError(409, 'conflict', 'this controller does not support undo (the operator: apply a Rollout of the earlier version)');
    const result = await service.undo(channel, body.to, actor, reason);
    switch (result.status) {
      case 'created':
        res.status(201).json({ status: 'created', rollout: result.rollout, undo: result.undo });
        return;
      case 'refused':
        throw new ApiError(result.code, result.code === 404 ? 'not_found' : result.code === 409 ? 'conflict' : 'invalid_request', `undo refused: ${result.message}`);
      case 'invalid':
        // The server built this rollout from the channel's records: name the field, not a position in a body.
        throw invalidRollout(result.errors.map((e) => `undo of ${channel} to ${String(body.to)}: ${e.path}: ${e.message}`));
      default: {
        const _never: never = result;
        throw new Error(`unknown undo status ${String(_never)}`);
      }
    }
  });

  app.post('/v1/rollouts/:name/:verb', async (req, res, next) => {
    const verb = req.params.verb;
    if (!isApiVerb(verb)) {
      next();
      return;
    }
    await authorizeOrThrow(req, res, verb);
    const actor = actorOf(res);
    const name = rolloutName(req);
    const body = await readJsonObject(req, res, ctx.maxBodyBytes, { optional: true });
    checkFields(body, verb === 'promote' ? ['reason', 'full'] : ['reason']);
    if (body.full !== undefined && typeof body.full !== 'boolean') throw new ApiError(422, 'invalid_request', 'full: must be true or false');
    const reason = body.reason === undefined ? `${verb} via API` : checkReason(body.reason, false);
    const requestVerb = verb === 'promote' && body.full === true ? 'promote-full' : verb;
    // The two-person rule (policy approvals.distinctFrom), checked after the body was read so that nothing can change
    // the phase between the check and the decision.
    const separated = separatedVerbOf(requestVerb, service.getRollout(name)?.phase.kind);
    if (separated !== null) twoPersonGuard(service, { verb: separated, rollout: name, requester: actor });
    const result = await service.request(name, requestVerb, actor, reason);
    switch (result.status) {
      case 'applied':
        res.json({ outcome: 'applied', message: result.message, rollout: result.rollout });
        return;
      case 'rejected':
        throw new ApiError(409, 'conflict', `${verb} refused: ${result.message}`);
      case 'not-found':
        throw new ApiError(404, 'not_found', `no rollout named "${name}"`);
      default: {
        const _never: never = result;
        throw new Error(`unknown request status ${String(_never)}`);
      }
    }
  });

  // ---------------------------------------------------------------------------------------- kill switch

  app.get('/v1/killswitch', need('read'), (_req, res) => {
    res.json(service.getKillSwitch());
  });

  app.post('/v1/killswitch', need('killswitch'), async (req, res) => {
    const actor = actorOf(res);
    const body = await readJsonObject(req, res, ctx.maxBodyBytes, { optional: false });
    checkFields(body, ['engaged', 'mode', 'reason']);
    if (typeof body.engaged !== 'boolean') throw new ApiError(422, 'invalid_request', 'engaged: required, must be true or false');
    const mode = body.mode === undefined ? 'freeze' : body.mode;
    if (mode !== 'freeze' && mode !== 'rollback') throw new ApiError(422, 'invalid_request', 'mode: must be "freeze" or "rollback"');
    if (body.reason === undefined) throw new ApiError(422, 'invalid_request', 'reason: required (say why, it goes to the audit log)');
    const reason = checkReason(body.reason, true);
    const breakGlass = principalOf(res)?.kind === 'break-glass';
    if (breakGlass && !body.engaged) throw new ApiError(403, 'forbidden', 'a break-glass credential may only engage the kill switch, not release it');
    if (!body.engaged) twoPersonGuard(service, { verb: 'killswitch-release', requester: actor });
    const state = await service.setKillSwitch({ engaged: body.engaged, mode, reason }, actor, breakGlass ? { breakGlass: true } : undefined);
    if (breakGlass) ctx.observer.breakGlass?.(actor);
    res.json(state);
  });

  // ---------------------------------------------------------------------------------------- audit

  app.get('/v1/audit', need('read'), (req, res) => {
    checkQuery(req, ['after', 'limit']);
    const after = intParam(req.query.after, 'after', 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(req.query.limit, 'limit', 1, MAX_AUDIT_LIMIT) ?? DEFAULT_AUDIT_LIMIT;
    const entries = service.listAudit(after === undefined ? { limit } : { afterId: after, limit });
    const last = entries[entries.length - 1];
    res.json({ entries, next: entries.length === limit && last ? last.id : null });
  });

  app.get('/v1/audit/verify', need('read'), (_req, res) => {
    res.json(service.verifyAudit());
  });

  // Signed checkpoints of the chain head and the audit public key (store/audit-source.ts), for off-box records.
  const auditSource = (): AuditSource => {
    const src = auditSourceOf(service);
    if (!src) throw new ApiError(404, 'not_found', 'this server publishes no audit checkpoints (no audit key)');
    return src;
  };
  app.get('/v1/audit/checkpoints', need('read'), (_req, res) => {
    res.json(auditSource().auditExport());
  });
  app.get('/v1/audit/key', need('read'), (_req, res) => {
    const key = auditSource().auditKey();
    if (!key) throw new ApiError(404, 'not_found', 'this server publishes no audit checkpoints (no audit key)');
    res.json(key);
  });

  // ---------------------------------------------------------------------------------------- fallbacks

  const methodsOf: Array<[string, string]> = [
    ['/healthz', 'GET, HEAD'],
    ['/readyz', 'GET, HEAD'],
    ['/metrics', 'GET, HEAD'],
    ['/v1/signing-key', 'GET, HEAD'],
    ['/v1/rollouts', 'GET, HEAD, POST'],
    ['/v1/rollouts/:name', 'GET, HEAD, DELETE'],
    ['/v1/policies', 'GET, HEAD, POST'],
    ['/v1/policies/:name', 'DELETE'],
    ['/v1/channels/:channel', 'GET, HEAD'],
    ['/v1/channels/:channel/undo', 'POST'],
    ['/v1/killswitch', 'GET, HEAD, POST'],
    ['/v1/audit', 'GET, HEAD'],
    ['/v1/audit/verify', 'GET, HEAD'],
    ['/v1/audit/checkpoints', 'GET, HEAD'],
    ['/v1/audit/key', 'GET, HEAD'],
    ['/v1/whoami', 'GET, HEAD'],
    ['/v1/auth/config', 'GET, HEAD'],
    ['/v1/events', 'GET'],
    ['/v1/rollouts/:name/evidence', 'GET, HEAD'],
  ];
  if (ctx.artifactsDir !== undefined) methodsOf.push(['/artifacts/:name', 'GET, HEAD']);
  for (const [path, allow] of methodsOf) {
    app.all(path, () => {
      throw new ApiError(405, 'method_not_allowed', `${path} supports ${allow}`, { headers: { Allow: allow } });
    });
  }
  app.all('/v1/rollouts/:name/:verb', (req, _res, next) => {
    if (!isApiVerb(req.params.verb)) {
      next();
      return;
    }
    throw new ApiError(405, 'method_not_allowed', 'rollout verbs support POST', { headers: { Allow: 'POST' } });
  });
  app.use(() => {
    throw new ApiError(404, 'not_found', 'no such endpoint (see docs/api.md)');
  });

  // The one error handler: expected errors as they are, framework 4xx with generic wording, the rest as 500.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const requestId = requestIdOf(res);
    if (err instanceof ServiceClosedError) {
      sendError(res, 503, 'not_ready', err.message, requestId, { headers: { 'Retry-After': '1' } });
      return;
    }
    if (err instanceof ApiError) {
      if (err.status === 401 || err.status === 403) {
        ctx.log.warn({ requestId, method: req.method, route: routeOf(req), status: err.status, code: err.code, client: req.socket.remoteAddress, error: err.message }, 'request refused');
      }
      sendError(res, err.status, err.code, err.message, requestId, err.extra);
      return;
    }
    const status = statusOf(err);
    if (status !== undefined && status >= 400 && status < 500) {
      const { code, message } = codeForStatus(status);
      sendError(res, status, code, message, requestId);
      return;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    ctx.log.error({ requestId, method: req.method, route: routeOf(req), error: e.message, stack: e.stack }, 'request failed');
    sendError(res, 500, 'internal', 'internal error; the server log has the details under this request id', requestId);
  });
  return app;
}

/** The matched route's template (`/v1/rollouts/:name`), never the raw URL; 'unmatched' before or without a match. */
function routeOf(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? route.path : 'unmatched';
}

function invalidRollout(lines: string[]): ApiError {
  return invalidDocument('rollout', lines);
}

function invalidDocument(what: 'rollout' | 'policy', lines: string[]): ApiError {
  const n = lines.length;
  return new ApiError(422, what === 'rollout' ? 'invalid_rollout' : 'invalid_policy', `the ${what} is invalid (${n} error${n === 1 ? '' : 's'}): ${lines[0] ?? ''}`, { details: lines });
}

/** A Policy body: the same loader as `ringctl validate` (policies are small; the loader's budgets bound any body). */
function parsePolicyBody(text: string): { ok: true; policy: Policy } | { ok: false; lines: string[] } {
  try {
    const r = parsePolicyText(text, BODY_SOURCE);
    return r.ok ? { ok: true, policy: r.doc } : { ok: false, lines: r.errors.map(formatSpecError) };
  } catch (err) {
    return { ok: false, lines: [`${BODY_SOURCE}:1:1: ${err instanceof RangeError ? 'the document is nested too deeply' : 'the document cannot be loaded'}`] };
  }
}

/** A true/false query parameter (`?dryRun=true`); absent is false. */
function flagParam(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new ApiError(400, 'invalid_request', `${name}: must be true or false`);
}

function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { status?: unknown; statusCode?: unknown };
  const s = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  return s !== undefined && Number.isInteger(s) ? s : undefined;
}

/** A JSON body that must be an object (an empty optional body reads as {}). */
async function readJsonObject(req: Request, res: Response, maxBytes: number, opts: { optional: boolean }): Promise<Record<string, unknown>> {
  const text = await readTextBody(req, res, { accepted: JSON_MEDIA_TYPES, maxBytes, optional: opts.optional });
  if (text === '' && opts.optional) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const pos = err instanceof SyntaxError ? /position (\d+)/.exec(err.message)?.[1] : undefined;
    throw new ApiError(400, 'malformed_body', `malformed JSON body${pos === undefined ? '' : ` (at byte ${pos})`}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError(422, 'invalid_request', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function checkFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 3).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 37)}...` : k));
    throw new ApiError(422, 'invalid_request', `unknown field${unknown.length === 1 ? '' : 's'} ${shown.join(', ')}${unknown.length > 3 ? ', ...' : ''} (expected: ${known.join(', ')})`);
  }
}

/**
 * A reason for the audit log: a string of 1..512 characters of one line of well-formed text. Text that may not be
 * stored (lone surrogates, control characters, bidi overrides: spec/text.ts) is a 400 naming the character.
 */
function checkReason(value: unknown, required: boolean): string {
  if (typeof value !== 'string') throw new ApiError(422, 'invalid_request', `reason: must be a string of 1-${MAX_REASON_LENGTH} characters`);
  const flaw = textFlaw(value, 'line');
  if (flaw !== undefined) throw new ApiError(400, 'invalid_request', `reason: ${flaw}`);
  const reason = value.trim();
  if (reason === '' && required) throw new ApiError(422, 'invalid_request', 'reason: must not be empty (say why, it goes to the audit log)');
  if (reason === '') throw new ApiError(422, 'invalid_request', 'reason: must not be empty (leave it out instead)');
  if ([...reason].length > MAX_REASON_LENGTH) throw new ApiError(422, 'invalid_request', `reason: at most ${MAX_REASON_LENGTH} characters`);
  return reason;
}

function checkQuery(req: Request, known: readonly string[]): void {
  const q = req.query as Record<string, unknown>;
  for (const k of Object.keys(q)) {
    if (!known.includes(k)) throw new ApiError(400, 'invalid_request', `unknown query parameter (expected: ${known.join(', ')})`);
  }
}

function intParam(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]{1,16}$/.test(value)) throw new ApiError(400, 'invalid_request', `${name}: must be an integer between ${min} and ${max}`);
  const n = Number(value);
  if (n < min || n > max) throw new ApiError(400, 'invalid_request', `${name}: must be an integer between ${min} and ${max}`);
  return n;
}
