/**
 * A test Kubernetes API server, in the test process (Node http on a loopback port), that speaks the real
 * protocol well enough for the real @kubernetes/client-node 1.x and the real kubectl: discovery, OpenAPI v3,
 * list (resourceVersion, selectors, limit/continue), streaming watch (history from a resourceVersion, bookmarks,
 * 410 Gone after compaction, timeoutSeconds), get/create/update/patch (merge, JSON patch) with the /status
 * subresource, delete with finalizers, `as=Table`, Status error bodies. No cluster can run on the test machines,
 * so the operator's tests run against this. Every request is recorded with its RBAC verb (see RecordedCall), and
 * tests can inject faults (dropWatches, compact, failNext).
 *
 * Resource types: core v1 configmaps, secrets, events, namespaces; coordination.k8s.io/v1 leases;
 * apiextensions.k8s.io/v1 customresourcedefinitions, and the type of every CRD passed in `crds` or created through
 * the API (`kubectl apply -f crds.yaml` works). Storage is in memory; resourceVersion is one global counter, as
 * etcd's revision.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersionOf,
  builtinTypes,
  crdType,
  openApiDoc,
  openApiIndex,
  parseFieldSelector,
  parseLabelSelector,
  statusBody,
  table,
  type FieldSelector,
  type ResourceType,
  type Selector,
} from './kube-apiserver-meta';
import { jsonPatch, mergePatch, PatchError } from './kube-apiserver-patch';
import { pruneAndDefault, validateSchema } from './kube-apiserver-schema';

type Obj = Record<string, unknown>;

export interface KubeApiServerOptions {
  /** CustomResourceDefinition objects (apiextensions.k8s.io/v1) to serve. */
  crds?: object[];
  /** Interval of BOOKMARK events on watches that ask for them (allowWatchBookmarks=true); default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** The bearer token in the kubeconfigs; a request with another token gets 401. Default "ringmaster-test-token". */
  token?: string;
  /** Refuse (404) creating namespaced objects in a namespace that does not exist, as the real server does.
   *  Default false: a namespace is created on first use. */
  strictNamespaces?: boolean;
  /** Watch event history kept to serve watches from a resourceVersion; older ones get 410. Default 10000. */
  historySize?: number;
}

/** One request, with its Kubernetes RBAC verb. Discovery and OpenAPI requests have verb 'discovery'. */
export interface RecordedCall {
  verb: string;
  apiGroup: string;
  resource: string;
  /** '' when none. */
  subresource: string;
  /** '' for cluster-scoped requests and all-namespaces lists/watches. */
  namespace: string;
  /** '' for collections. */
  name: string;
  status: number;
  method: string;
  path: string;
  /** The request's Content-Type (patches: which patch format). */
  contentType: string;
  /** It carried the server's bearer token. kubectl sends no token to an http:// server, so a request without an
   *  Authorization header is served (anonymous); a wrong token gets 401. */
  authenticated: boolean;
}

export interface FailSpec {
  verb: string;
  resource: string;
  subresource?: string;
  apiGroup?: string;
  namespace?: string;
  name?: string;
  status: number;
  /** How many matching calls fail; default 1. */
  count?: number;
  message?: string;
}

/** A resource type: a plural with an optional group ('leases', 'rollouts.ringmaster.dev') or its parts. */
export type Gvr = string | { group?: string; version?: string; resource: string };

export interface KubeApiServer {
  url: string;
  port: number;
  /** Writes a kubeconfig file (token user, context with the namespace, default "default") and returns its path. */
  kubeconfig(namespace?: string): string;
  /** A client-node KubeConfig for this server (loadFromOptions, skipTLSVerify). */
  kubeConfig(namespace?: string): k8s.KubeConfig;
  /** Every request so far, in order of response. */
  calls: RecordedCall[];
  clearCalls(): void;
  get(gvr: Gvr, namespace: string, name: string): Obj | undefined;
  /** Creates or replaces the whole object (status included), through the same write path: RV bump, watch events.
   *  A metadata.resourceVersion in obj is a precondition (throws on conflict). Returns the stored object. */
  put(gvr: Gvr, obj: object): Obj;
  /** The API delete: finalizers respected. Returns false when absent. */
  delete(gvr: Gvr, namespace: string, name: string): boolean;
  list(gvr: Gvr, namespace?: string): Obj[];
  /** The current (latest) resourceVersion. */
  resourceVersion(): string;
  /** Ends every open watch stream (a clean end of the HTTP response; `abrupt` destroys the sockets instead). */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /** Every resourceVersion older than the current one becomes too old (410 Gone on watch / exact list / continue). */
  compact(): void;
  /** Answers the next matching call(s) with that status and a Status body. */
  failNext(spec: FailSpec): void;
  /** Open watch streams now. */
  watchCount(): number;
  stop(): Promise<void>;
}

interface WatchEvent {
  rv: number;
  typeKey: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
  prev?: Obj;
}

interface Watcher {
  typeKey: string;
  t: ResourceType;
  version: string;
  namespace: string;
  labels: Selector;
  fields: FieldSelector;
  asTable: boolean;
  res: http.ServerResponse;
  close(): void;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
    readonly details?: Obj,
  ) {
    super(message);
  }
}

interface Target {
  t: ResourceType;
  version: string;
  namespace: string;
  name: string;
  subresource: string;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_BODY = 3 * 1024 * 1024;

function meta(o: Obj): Obj {
  if (typeof o.metadata !== 'object' || o.metadata === null) o.metadata = {};
  return o.metadata as Obj;
}

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Obj)
        .sort()
        .map((k) => [k, sortKeys((v as Obj)[k])]),
    );
  }
  return v;
}

function without(o: Obj, ...keys: string[]): Obj {
  const c = { ...o };
  for (const k of keys) delete c[k];
  return c;
}

function typeKey(t: ResourceType): string {
  return `${t.group}/${t.plural}`;
}

function qualified(t: ResourceType): string {
  return t.group ? `${t.plural}.${t.group}` : t.plural;
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = opts.token ?? 'ringmaster-test-token';
  const bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
  const historySize = opts.historySize ?? 10_000;
  const types: ResourceType[] = builtinTypes();
  const store = new Map<string, Map<string, Obj>>(types.map((t) => [typeKey(t), new Map()]));
  const history: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const calls: RecordedCall[] = [];
  const faults: Array<FailSpec & { left: number }> = [];
  const sockets = new Set<import('node:net').Socket>();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-apiserver-'));
  const openApiHash = (): string => crypto.createHash('sha256').update(JSON.stringify(types)).digest('hex').slice(0, 32).toUpperCase();
  let rv = 1;
  /** A watch or exact list from a resourceVersion below this answers 410 Gone. */
  let oldestValidRv = 1;

  const nsType = types.find((t) => t.plural === 'namespaces' && t.group === '') as ResourceType;
  const crdKind = types.find((t) => t.plural === 'customresourcedefinitions') as ResourceType;

  /** A CRD written through the API (or passed in opts.crds) starts (or changes) serving its type; deleted, stops. */
  function crdChanged(type: WatchEvent['type'], crd: Obj): void {
    const t = crdType(crd);
    const i = types.findIndex((x) => x.group === t.group && x.plural === t.plural);
    if (type === 'DELETED') {
      if (i >= 0) types.splice(i, 1);
      store.delete(typeKey(t));
      for (const w of [...watchers]) if (w.typeKey === typeKey(t)) w.close();
      return;
    }
    if (i >= 0) types[i] = t;
    else types.push(t);
    if (!store.has(typeKey(t))) store.set(typeKey(t), new Map());
  }

  function checkCrd(o: Obj): void {
    let t: ResourceType;
    try {
      t = crdType(o);
    } catch (e) {
      throw new HttpError(422, `CustomResourceDefinition "${String(meta(o).name)}" is invalid: ${(e as Error).message}`, 'Invalid');
    }
    if (meta(o).name !== `${t.plural}.${t.group}`) {
      throw new HttpError(422, `CustomResourceDefinition.apiextensions.k8s.io "${String(meta(o).name)}" is invalid: metadata.name: Invalid value: must be spec.names.plural+"."+spec.group`, 'Invalid');
    }
    const clash = types.find((x) => x.group === t.group && x.plural === t.plural && !x.custom);
    if (clash) throw new HttpError(422, `CustomResourceDefinition "${String(meta(o).name)}" is invalid: a built-in type has that name`, 'Invalid');
  }

  function resolve(gvr: Gvr): { t: ResourceType; version: string } {
    const g = typeof gvr === 'string' ? { resource: gvr.split('.')[0] as string, group: gvr.includes('.') ? gvr.slice(gvr.indexOf('.') + 1) : undefined } : gvr;
    const t = types.find((x) => x.plural === g.resource && (g.group === undefined || x.group === g.group));
    if (!t) throw new Error(`kube-apiserver: unknown resource ${JSON.stringify(gvr)}`);
    return { t, version: g.version ?? (t.versions[0] as string) };
  }

  function objKey(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  function bucket(t: ResourceType): Map<string, Obj> {
    return store.get(typeKey(t)) as Map<string, Obj>;
  }

  /** A copy for the client, with the apiVersion of the version it asked for. */
  function out(t: ResourceType, version: string, o: Obj): Obj {
    const c = structuredClone(o);
    c.apiVersion = apiVersionOf(t, version);
    c.kind = t.kind;
    return c;
  }

  // ---- writes: every change goes through commit() ----

  function commit(t: ResourceType, type: WatchEvent['type'], obj: Obj, prev?: Obj): Obj {
    rv += 1;
    const m = meta(obj);
    m.resourceVersion = String(rv);
    const b = bucket(t);
    const key = objKey((m.namespace as string) ?? '', m.name as string);
    if (type === 'DELETED') b.delete(key);
    else b.set(key, obj);
    if (t === crdKind) crdChanged(type, obj);
    const ev: WatchEvent = { rv, typeKey: typeKey(t), type, object: structuredClone(obj), prev: prev ? structuredClone(prev) : undefined };
    history.push(ev);
    if (history.length > historySize) {
      const dropped = history.shift() as WatchEvent;
      oldestValidRv = Math.max(oldestValidRv, dropped.rv);
    }
    for (const w of watchers) if (w.typeKey === ev.typeKey) sendEvent(w, ev);
    return obj;
  }

  function ensureNamespace(namespace: string): void {
    if (!namespace || bucket(nsType).has(objKey('', namespace))) return;
    if (opts.strictNamespaces) throw new HttpError(404, `namespaces "${namespace}" not found`, 'NotFound', { name: namespace, kind: 'namespaces' });
    commit(nsType, 'ADDED', newObject(nsType, 'v1', { metadata: { name: namespace } }, ''));
  }

  /** Timestamps of built-ins as the real server serializes them: Time in seconds, MicroTime in microseconds. */
  function normalizeTimes(t: ResourceType, o: Obj): void {
    const fix = (holder: unknown, key: string, micro: boolean): void => {
      if (!holder || typeof holder !== 'object') return;
      const h = holder as Obj;
      if (typeof h[key] !== 'string' || Number.isNaN(Date.parse(h[key] as string))) return;
      const iso = new Date(h[key] as string).toISOString();
      const frac = /\.(\d+)/.exec(h[key] as string)?.[1] ?? '';
      h[key] = micro ? `${iso.slice(0, 19)}.${(frac + '000000').slice(0, 6)}Z` : `${iso.slice(0, 19)}Z`;
    };
    if (t.plural === 'leases' && t.group === 'coordination.k8s.io') {
      fix(o.spec, 'acquireTime', true);
      fix(o.spec, 'renewTime', true);
    }
    if (t.plural === 'events' && t.group === '') {
      fix(o, 'eventTime', true);
      fix(o, 'firstTimestamp', false);
      fix(o, 'lastTimestamp', false);
    }
  }

  function newObject(t: ResourceType, version: string, body: Obj, namespace: string): Obj {
    const o = structuredClone(body);
    o.apiVersion = apiVersionOf(t, version);
    o.kind = t.kind;
    const m = meta(o);
    if (!m.name && typeof m.generateName === 'string' && m.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += NAME_CHARS[crypto.randomInt(NAME_CHARS.length)];
      m.name = m.generateName + suffix;
    }
    if (!m.name) throw new HttpError(422, `${t.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, 'Invalid');
    const name = String(m.name);
    if (name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) {
      throw new HttpError(422, `${t.kind} "${name}" is invalid: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, 'Invalid', { name, group: t.group, kind: t.kind });
    }
    if (t.namespaced) m.namespace = namespace;
    else delete m.namespace;
    m.uid = crypto.randomUUID();
    m.creationTimestamp = nowSeconds();
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    if (t.custom) m.generation = 1;
    else delete m.generation;
    if (t.status && t.custom) delete o.status;
    if (t === nsType) o.status = { phase: 'Active' };
    if (t === crdKind) {
      checkCrd(o);
      const spec = (o.spec ?? {}) as Obj;
      const versions = (spec.versions ?? []) as Obj[];
      const now = nowSeconds();
      const cond = (type: string, reason: string, message: string): Obj => ({ type, status: 'True', lastTransitionTime: now, reason, message });
      o.status = {
        acceptedNames: spec.names,
        conditions: [cond('NamesAccepted', 'NoConflicts', 'no conflicts found'), cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted')],
        storedVersions: versions.filter((v) => v.storage).map((v) => v.name),
      };
    }
    return o;
  }

  interface WriteOpts {
    fieldValidation?: string | null;
    warnings?: string[];
  }

  /** Pruning, defaulting and schema validation of custom resources (the real server's structural schema). */
  function admit(t: ResourceType, version: string, o: Obj, w: WriteOpts): void {
    normalizeTimes(t, o);
    if (!t.custom) return;
    const schema = t.schemas[version];
    const unknown = pruneAndDefault(o, schema);
    if (unknown.length > 0) {
      if (w.fieldValidation === 'Strict') {
        throw new HttpError(400, `${t.kind} in version "${version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u.slice(1)}"`).join(', ')}`, 'BadRequest');
      }
      if (w.fieldValidation !== 'Ignore') w.warnings?.push(...unknown.map((u) => `unknown field "${u.slice(1)}"`));
    }
    const errors = validateSchema(o, schema);
    if (errors.length > 0) {
      const name = (meta(o).name as string) ?? '';
      throw new HttpError(422, `${t.kind}.${t.group} "${name}" is invalid: ${errors.join(', ')}`, 'Invalid', { name, group: t.group, kind: t.kind });
    }
  }

  function create(t: ResourceType, version: string, namespace: string, body: Obj, w: WriteOpts = {}): Obj {
    const bm = meta(body);
    if (t.namespaced && bm.namespace && bm.namespace !== namespace) {
      throw new HttpError(400, 'the namespace of the provided object does not match the namespace sent on the request', 'BadRequest');
    }
    if (bm.resourceVersion) throw new HttpError(400, 'resourceVersion should not be set on objects to be created', 'BadRequest');
    const o = newObject(t, version, body, t.namespaced ? namespace : '');
    const m = meta(o);
    if (bucket(t).has(objKey((m.namespace as string) ?? '', m.name as string))) {
      throw new HttpError(409, `${qualified(t)} "${m.name as string}" already exists`, 'AlreadyExists', { name: m.name, group: t.group, kind: t.plural });
    }
    admit(t, version, o, w);
    if (t.namespaced) ensureNamespace(namespace);
    return commit(t, 'ADDED', o);
  }

  function conflict(t: ResourceType, name: string): HttpError {
    return new HttpError(
      409,
      `Operation cannot be fulfilled on ${qualified(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      'Conflict',
      { name, group: t.group, kind: t.plural },
    );
  }

  function notFound(t: ResourceType, name: string): HttpError {
    return new HttpError(404, `${qualified(t)} "${name}" not found`, 'NotFound', { name, group: t.group, kind: t.plural });
  }

  function current(t: ResourceType, namespace: string, name: string): Obj {
    const o = bucket(t).get(objKey(t.namespaced ? namespace : '', name));
    if (!o) throw notFound(t, name);
    return o;
  }

  /**
   * The update path shared by PUT and PATCH: `next` is the full desired object. Applies the status-subresource
   * rules, keeps server-owned metadata, bumps generation when anything but metadata/status changed, finishes a
   * deletion once the finalizers are gone, and does nothing (same RV, no event) when nothing changed.
   */
  function update(t: ResourceType, version: string, old: Obj, nextIn: Obj, subresource: string, w: WriteOpts): Obj {
    const om = meta(old);
    const name = om.name as string;
    const nm0 = meta(nextIn);
    if (nm0.resourceVersion !== undefined && nm0.resourceVersion !== '' && nm0.resourceVersion !== om.resourceVersion) throw conflict(t, name);
    if (nm0.uid && nm0.uid !== om.uid) {
      throw new HttpError(409, `Operation cannot be fulfilled on ${qualified(t)} "${name}": Precondition failed: UID in precondition: ${nm0.uid as string}, UID in object meta: ${om.uid as string}`, 'Conflict');
    }
    let next: Obj;
    if (subresource === 'status') {
      next = structuredClone(old);
      if ('status' in nextIn) next.status = structuredClone(nextIn.status);
      else delete next.status;
    } else {
      next = structuredClone(nextIn);
      if (t.status) {
        if ('status' in old) next.status = structuredClone(old.status);
        else delete next.status;
      }
    }
    next.apiVersion = apiVersionOf(t, version);
    next.kind = t.kind;
    const nm = meta(next);
    for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (k in om) nm[k] = om[k];
      else delete nm[k];
    }
    nm.resourceVersion = om.resourceVersion;
    if (om.deletionTimestamp) {
      const had = new Set((om.finalizers ?? []) as string[]);
      const added = ((nm.finalizers ?? []) as string[]).filter((f) => !had.has(f));
      if (added.length > 0) {
        throw new HttpError(422, `${t.kind} "${name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`, 'Invalid');
      }
    }
    admit(t, version, next, w);
    if (t === crdKind) checkCrd(next);
    if (t.custom) {
      const changed = t.status ? !deepEqual(without(next, 'metadata', 'status'), without(old, 'metadata', 'status')) : !deepEqual(without(next, 'metadata'), without(old, 'metadata'));
      if (changed) nm.generation = ((om.generation as number) ?? 1) + 1;
    }
    if (Array.isArray(nm.finalizers) && nm.finalizers.length === 0) delete nm.finalizers;
    if (nm.deletionTimestamp && !nm.finalizers) return commit(t, 'DELETED', next, old);
    if (deepEqual(next, old)) return old;
    return commit(t, 'MODIFIED', next, old);
  }

  function remove(t: ResourceType, old: Obj, preconditions?: Obj): Obj | undefined {
    const om = meta(old);
    if (preconditions?.resourceVersion && preconditions.resourceVersion !== om.resourceVersion) throw conflict(t, om.name as string);
    if (preconditions?.uid && preconditions.uid !== om.uid) throw conflict(t, om.name as string);
    const finalizers = (om.finalizers ?? []) as string[];
    if (finalizers.length === 0) {
      commit(t, 'DELETED', structuredClone(old), old);
      return undefined;
    }
    if (om.deletionTimestamp) return old;
    const next = structuredClone(old);
    const nm = meta(next);
    nm.deletionTimestamp = nowSeconds();
    nm.deletionGracePeriodSeconds = 0;
    return commit(t, 'MODIFIED', next, old);
  }

  // ---- watch ----

  function writeLine(w: Watcher, type: string, object: Obj): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  function matches(w: Watcher, o: Obj | undefined): boolean {
    if (!o) return false;
    const m = meta(o);
    if (w.namespace && m.namespace !== w.namespace) return false;
    return w.labels((m.labels ?? {}) as Record<string, string>) && w.fields(o);
  }

  function watchObject(w: Watcher, o: Obj): Obj {
    const c = out(w.t, w.version, o);
    return w.asTable ? table(w.t, [c], meta(c).resourceVersion as string, 'Object') : c;
  }

  /** Label/field selectors on a watch turn a MODIFIED that enters (leaves) the selection into ADDED (DELETED). */
  function sendEvent(w: Watcher, ev: WatchEvent): void {
    const now = matches(w, ev.object);
    const before = ev.type === 'MODIFIED' ? matches(w, ev.prev) : now;
    let type: string = ev.type;
    if (ev.type === 'MODIFIED' && now && !before) type = 'ADDED';
    else if (ev.type === 'MODIFIED' && !now && before) type = 'DELETED';
    else if (!now) return;
    writeLine(w, type, watchObject(w, ev.object));
  }

  function bookmark(w: Watcher, annotations?: Record<string, string>): void {
    const m: Obj = { resourceVersion: String(rv) };
    if (annotations) m.annotations = annotations;
    writeLine(w, 'BOOKMARK', { apiVersion: apiVersionOf(w.t, w.version), kind: w.t.kind, metadata: m });
  }

  /** `gone`: answer as for a too-old resourceVersion whatever it is (an injected 410). */
  function startWatch(ctx: Ctx, tg: Target, q: URLSearchParams, gone = false): void {
    const { res } = ctx;
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    if (sendInitial && (!bookmarks || q.get('resourceVersionMatch') !== 'NotOlderThan')) {
      throw new HttpError(422, 'sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan', 'Invalid');
    }
    const fromRaw = q.get('resourceVersion') ?? '';
    if (fromRaw !== '' && !/^\d+$/.test(fromRaw)) throw new HttpError(400, `invalid resource version: ${fromRaw}`, 'BadRequest');
    const from = fromRaw === '' ? 0 : Number(fromRaw);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    record(ctx, 200);
    const timers: NodeJS.Timeout[] = [];
    const w: Watcher = {
      typeKey: typeKey(tg.t),
      t: tg.t,
      version: tg.version,
      namespace: tg.namespace,
      labels,
      fields,
      asTable: ctx.asTable,
      res,
      close: () => {
        watchers.delete(w);
        for (const t of timers) clearInterval(t);
        if (!res.writableEnded) res.end();
      },
    };
    res.on('close', () => {
      watchers.delete(w);
      for (const t of timers) clearInterval(t);
    });
    if (gone || (from !== 0 && from < oldestValidRv && !sendInitial)) {
      writeLine(w, 'ERROR', statusBody(410, `too old resource version: ${from} (${oldestValidRv})`, 'Expired') as unknown as Obj);
      res.end();
      return;
    }
    if (from === 0 || sendInitial) {
      const items = [...bucket(tg.t).values()].sort((a, b) => Number(meta(a).resourceVersion) - Number(meta(b).resourceVersion));
      for (const o of items) if (matches(w, o)) writeLine(w, 'ADDED', watchObject(w, o));
      if (sendInitial) bookmark(w, { 'k8s.io/initial-events-end': 'true' });
    } else {
      for (const ev of history) if (ev.rv > from && ev.typeKey === w.typeKey) sendEvent(w, ev);
    }
    watchers.add(w);
    if (bookmarks) timers.push(setInterval(() => bookmark(w), bookmarkIntervalMs));
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) timers.push(setTimeout(() => w.close(), timeout * 1000));
  }

  // ---- list / get ----

  function listItems(t: ResourceType, namespace: string, labels: Selector, fields: FieldSelector): Obj[] {
    return [...bucket(t).entries()]
      .filter(([, o]) => (!namespace || meta(o).namespace === namespace) && labels((meta(o).labels ?? {}) as Record<string, string>) && fields(o))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
  }

  function doList(ctx: Ctx, tg: Target, q: URLSearchParams): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    const fromRaw = q.get('resourceVersion') ?? '';
    if (q.get('resourceVersionMatch') === 'Exact' && fromRaw && Number(fromRaw) < oldestValidRv) {
      throw new HttpError(410, `The resourceVersion for the provided list is too old.`, 'Expired');
    }
    let items = listItems(tg.t, tg.namespace, labels, fields);
    const listMeta: Obj = { resourceVersion: String(rv) };
    const limit = Number(q.get('limit') ?? '0');
    const cont = q.get('continue');
    if (cont) {
      let token: { rv: number; start: string };
      try {
        token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as { rv: number; start: string };
      } catch {
        throw new HttpError(400, 'continue key is not valid', 'BadRequest');
      }
      if (token.rv < oldestValidRv) {
        throw new HttpError(410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.', 'Expired');
      }
      items = items.filter((o) => objKey((meta(o).namespace as string) ?? '', meta(o).name as string) >= token.start);
      listMeta.resourceVersion = String(token.rv);
    }
    if (limit > 0 && items.length > limit && fromRaw !== '0') {
      const rest = items.slice(limit);
      items = items.slice(0, limit);
      const first = rest[0] as Obj;
      listMeta.continue = Buffer.from(JSON.stringify({ rv: Number(listMeta.resourceVersion), start: objKey((meta(first).namespace as string) ?? '', meta(first).name as string) })).toString('base64');
      listMeta.remainingItemCount = rest.length;
    }
    if (ctx.asTable) {
      reply(ctx, 200, table(tg.t, items.map((o) => out(tg.t, tg.version, o)), listMeta.resourceVersion as string, q.get('includeObject')));
      return;
    }
    // The real server's typed lists of built-ins carry no apiVersion/kind on items; custom resource items do.
    const rendered = items.map((o) => {
      const c = out(tg.t, tg.version, o);
      if (!tg.t.custom) {
        delete c.apiVersion;
        delete c.kind;
      }
      return c;
    });
    reply(ctx, 200, { apiVersion: apiVersionOf(tg.t, tg.version), kind: tg.t.listKind, metadata: listMeta, items: rendered });
  }

  function sendObject(ctx: Ctx, code: number, tg: Target, o: Obj): void {
    const c = out(tg.t, tg.version, o);
    reply(ctx, code, ctx.asTable ? table(tg.t, [c], meta(c).resourceVersion as string, ctx.includeObject) : c);
  }

  // ---- HTTP plumbing ----

  interface Ctx {
    req: http.IncomingMessage;
    res: http.ServerResponse;
    call: RecordedCall;
    asTable: boolean;
    includeObject: string | null;
    warnings: string[];
    recorded: boolean;
  }

  function record(ctx: Ctx, status: number): void {
    if (ctx.recorded) return;
    ctx.recorded = true;
    ctx.call.status = status;
    calls.push(ctx.call);
  }

  function reply(ctx: Ctx, code: number, body: unknown): void {
    const data = JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), 'Cache-Control': 'no-cache, private' };
    if (ctx.warnings.length > 0) headers.Warning = ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ');
    ctx.res.writeHead(code, headers);
    ctx.res.end(data);
    record(ctx, code);
  }

  async function readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw new HttpError(413, 'Request entity too large: limit is 3145728', 'RequestEntityTooLarge');
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function parseJson(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new HttpError(400, `couldn't get version/kind; json parse error: ${(e as Error).message}`, 'BadRequest');
    }
  }

  function parseObjectBody(text: string, tg: Target): Obj {
    const body = parseJson(text);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object', 'BadRequest');
    const o = body as Obj;
    const want = apiVersionOf(tg.t, tg.version);
    if (o.apiVersion !== undefined && o.apiVersion !== want) {
      throw new HttpError(400, `the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${want})`, 'BadRequest');
    }
    if (o.kind !== undefined && o.kind !== tg.t.kind) {
      throw new HttpError(400, `${String(o.kind)} in version "${tg.version}" cannot be handled as a ${tg.t.kind}: the kind in the data does not match`, 'BadRequest');
    }
    return o;
  }

  function discovery(ctx: Ctx, p: string): boolean {
    const segs = p.split('/').filter(Boolean);
    let body: unknown;
    if (p === '/version') body = { major: '1', minor: '34', gitVersion: 'v1.34.5', gitCommit: 'ringmaster-test', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.24', compiler: 'gc', platform: 'linux/amd64' };
    else if (p === '/api') body = { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }] };
    else if (p === '/api/v1') body = apiResourceList(types, '', 'v1');
    else if (p === '/apis') body = apiGroupList(types);
    else if (segs[0] === 'apis' && segs.length === 2) body = apiGroup(types, segs[1] as string);
    else if (segs[0] === 'apis' && segs.length === 3) {
      const l = apiResourceList(types, segs[1] as string, segs[2] as string);
      body = (l.resources as unknown[]).length > 0 ? l : undefined;
    } else if (p === '/openapi/v3') body = openApiIndex(types, openApiHash());
    else if (segs[0] === 'openapi' && segs[1] === 'v3') {
      const gv = segs.slice(2);
      body = gv[0] === 'api' ? openApiDoc(types, '', gv[1] as string) : gv[0] === 'apis' ? openApiDoc(types, gv[1] as string, gv[2] as string) : undefined;
    } else if (p === '/openapi/v2' || p === '/healthz' || p === '/readyz' || p === '/livez') {
      if (p === '/openapi/v2') {
        ctx.call.verb = 'discovery';
        reply(ctx, 404, statusBody(404, 'the server could not find the requested resource (openapi v2 is not served)', 'NotFound'));
        return true;
      }
      ctx.call.verb = 'discovery';
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain' });
      ctx.res.end('ok');
      record(ctx, 200);
      return true;
    } else return false;
    ctx.call.verb = 'discovery';
    if (body === undefined) reply(ctx, 404, statusBody(404, 'the server could not find the requested resource', 'NotFound'));
    else reply(ctx, 200, body);
    return true;
  }

  /** /api/v1/... or /apis/G/V/... → the target, or undefined when the path names no resource. */
  function parseTarget(p: string): Target | undefined {
    const segs = p.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 3) {
      group = '';
      version = segs[1] as string;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1] as string;
      version = segs[2] as string;
      rest = segs.slice(3);
    } else return undefined;
    let namespace = '';
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
      namespace = rest[1] as string;
      rest = rest.slice(2);
    }
    const [plural, name = '', subresource = ''] = rest as [string, string?, string?];
    if (rest.length > 3) return undefined;
    const t = types.find((x) => x.group === group && x.plural === plural && x.versions.includes(version));
    if (!t) return undefined;
    return { t, version, namespace: t.namespaced ? namespace : '', name, subresource };
  }

  function verbOf(method: string, tg: Target, q: URLSearchParams): string {
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    switch (method) {
      case 'GET':
        return watch ? 'watch' : tg.name ? 'get' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return tg.name ? 'delete' : 'deletecollection';
      default:
        return method.toLowerCase();
    }
  }

  function takeFault(c: RecordedCall): FailSpec | undefined {
    const i = faults.findIndex(
      (f) =>
        f.verb === c.verb &&
        f.resource === c.resource &&
        (f.subresource ?? '') === c.subresource &&
        (f.apiGroup === undefined || f.apiGroup === c.apiGroup) &&
        (f.namespace === undefined || f.namespace === c.namespace) &&
        (f.name === undefined || f.name === c.name),
    );
    if (i < 0) return undefined;
    const f = faults[i] as FailSpec & { left: number };
    f.left -= 1;
    if (f.left <= 0) faults.splice(i, 1);
    return f;
  }

  async function handle(ctx: Ctx): Promise<void> {
    const { req } = ctx;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const q = url.searchParams;
    const p = url.pathname.replace(/\/+$/, '') || '/';
    ctx.call.path = p;
    const auth = req.headers.authorization;
    ctx.call.authenticated = auth === `Bearer ${token}`;
    if (auth !== undefined && !ctx.call.authenticated) {
      reply(ctx, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    const accept = String(req.headers.accept ?? '');
    ctx.asTable = /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
    ctx.includeObject = q.get('includeObject');
    if (discovery(ctx, p)) return;
    const tg = parseTarget(p);
    if (!tg) {
      reply(ctx, 404, statusBody(404, 'the server could not find the requested resource', 'NotFound'));
      return;
    }
    const method = req.method ?? 'GET';
    Object.assign(ctx.call, {
      verb: verbOf(method, tg, q),
      apiGroup: tg.t.group,
      resource: tg.t.plural,
      subresource: tg.subresource,
      namespace: tg.namespace,
      name: tg.name,
    });
    if (tg.subresource && !(tg.subresource === 'status' && tg.t.status)) {
      reply(ctx, 404, statusBody(404, 'the server could not find the requested resource', 'NotFound'));
      return;
    }
    const fault = takeFault(ctx.call);
    if (fault) {
      if (ctx.call.verb === 'watch' && fault.status === 410) {
        startWatch(ctx, tg, q, true);
        return;
      }
      const msg = fault.message ?? (fault.status === 409 ? conflict(tg.t, tg.name).message : `injected failure (${fault.status})`);
      const details = tg.name ? { name: tg.name, group: tg.t.group, kind: tg.t.plural } : undefined;
      reply(ctx, fault.status, statusBody(fault.status, msg, undefined, details));
      return;
    }
    const w: WriteOpts = { fieldValidation: q.get('fieldValidation'), warnings: ctx.warnings };
    const verb = ctx.call.verb;
    const contentType = String(req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    if (verb === 'watch') {
      if (tg.name) {
        // a watch on one object's path: the real server turns it into a field selector
        q.set('fieldSelector', [q.get('fieldSelector'), `metadata.name=${tg.name}`].filter(Boolean).join(','));
      }
      startWatch(ctx, tg, q);
      return;
    }
    if (verb === 'list') return doList(ctx, tg, q);
    if (verb === 'get') return sendObject(ctx, 200, tg, current(tg.t, tg.namespace, tg.name));
    const text = await readBody(req);
    if (['create', 'update'].includes(verb) && text && contentType && contentType !== 'application/json') {
      throw new HttpError(415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`, 'UnsupportedMediaType');
    }
    switch (verb) {
      case 'create': {
        if (tg.name || tg.subresource) throw new HttpError(405, 'the server does not allow this method on the requested resource', 'MethodNotAllowed');
        return sendObject(ctx, 201, tg, create(tg.t, tg.version, tg.namespace, parseObjectBody(text, tg), w));
      }
      case 'update': {
        const body = parseObjectBody(text, tg);
        const bn = meta(body).name;
        if (bn !== tg.name) throw new HttpError(400, `the name of the object (${String(bn)}) does not match the name on the URL (${tg.name})`, 'BadRequest');
        if (tg.t.namespaced && meta(body).namespace && meta(body).namespace !== tg.namespace) {
          throw new HttpError(400, 'the namespace of the provided object does not match the namespace sent on the request', 'BadRequest');
        }
        const old = current(tg.t, tg.namespace, tg.name);
        return sendObject(ctx, 200, tg, update(tg.t, tg.version, old, body, tg.subresource, w));
      }
      case 'patch': {
        const old = current(tg.t, tg.namespace, tg.name);
        const patch = parseJson(text);
        let next: unknown;
        const base = out(tg.t, tg.version, old);
        if (contentType === 'application/merge-patch+json' || (contentType === 'application/strategic-merge-patch+json' && !tg.t.custom)) {
          next = mergePatch(base, patch);
        } else if (contentType === 'application/json-patch+json') {
          next = jsonPatch(base, patch);
        } else {
          throw new HttpError(
            415,
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json${tg.t.custom ? '' : ', application/strategic-merge-patch+json'}`,
            'UnsupportedMediaType',
          );
        }
        if (!next || typeof next !== 'object' || Array.isArray(next)) throw new HttpError(422, 'the patch result is not an object', 'Invalid');
        const nm = meta(next as Obj);
        if (nm.name !== undefined && nm.name !== tg.name) throw new HttpError(400, `the name of the object (${String(nm.name)}) does not match the name on the URL (${tg.name})`, 'BadRequest');
        return sendObject(ctx, 200, tg, update(tg.t, tg.version, old, next as Obj, tg.subresource, w));
      }
      case 'delete': {
        const old = current(tg.t, tg.namespace, tg.name);
        const opts = text ? (parseJson(text) as Obj) : {};
        const left = remove(tg.t, old, (opts?.preconditions ?? undefined) as Obj | undefined);
        if (left) return sendObject(ctx, 200, tg, left);
        const m = meta(old);
        reply(ctx, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: m.name, group: tg.t.group, kind: tg.t.plural, uid: m.uid } });
        return;
      }
      case 'deletecollection': {
        const items = listItems(tg.t, tg.namespace, parseLabelSelector(q.get('labelSelector')), parseFieldSelector(q.get('fieldSelector')));
        const outItems = items.map((o) => remove(tg.t, o) ?? o).map((o) => out(tg.t, tg.version, o));
        reply(ctx, 200, { apiVersion: apiVersionOf(tg.t, tg.version), kind: tg.t.listKind, metadata: { resourceVersion: String(rv) }, items: outItems });
        return;
      }
      default:
        throw new HttpError(405, `the server does not allow this method on the requested resource`, 'MethodNotAllowed');
    }
  }

  const server = http.createServer((req, res) => {
    const ctx: Ctx = {
      req,
      res,
      asTable: false,
      includeObject: null,
      warnings: [],
      recorded: false,
      call: { verb: '', apiGroup: '', resource: '', subresource: '', namespace: '', name: '', status: 0, method: req.method ?? '', path: '', authenticated: false, contentType: String(req.headers['content-type'] ?? '') },
    };
    handle(ctx).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) reply(ctx, e.code, statusBody(e.code, e.message, e.reason, e.details));
      else if (e instanceof PatchError) reply(ctx, e.code, statusBody(e.code, e.message));
      else if (e instanceof Error && /selector|requirement/.test(e.message)) reply(ctx, 400, statusBody(400, e.message, 'BadRequest'));
      else reply(ctx, 500, statusBody(500, `internal error: ${(e as Error).message}`, 'InternalError'));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  for (const ns of ['default', 'kube-system']) commit(nsType, 'ADDED', newObject(nsType, 'v1', { metadata: { name: ns } }, ''));
  for (const crd of opts.crds ?? []) {
    try {
      create(crdKind, 'v1', '', structuredClone(crd) as Obj);
    } catch (e) {
      server.close();
      throw new Error(`kube-apiserver: bad CRD in opts.crds: ${(e as Error).message}`);
    }
  }

  let kubeconfigs = 0;
  return {
    url,
    port,
    calls,
    clearCalls: () => {
      calls.length = 0;
    },
    kubeconfig(namespace = 'default') {
      const file = path.join(tmp, `kubeconfig-${++kubeconfigs}`);
      const text = [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${url}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: test',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: test',
        '  context:',
        '    cluster: test',
        '    user: test',
        `    namespace: ${namespace}`,
        'current-context: test',
        '',
      ].join('\n');
      fs.writeFileSync(file, text, { mode: 0o600 });
      return file;
    },
    kubeConfig(namespace = 'default') {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
        users: [{ name: 'test', token }],
        contexts: [{ name: 'test', cluster: 'test', user: 'test', namespace }],
        currentContext: 'test',
      });
      return kc;
    },
    get(gvr, namespace, name) {
      const { t, version } = resolve(gvr);
      const o = bucket(t).get(objKey(t.namespaced ? namespace : '', name));
      return o ? out(t, version, o) : undefined;
    },
    put(gvr, objIn) {
      const { t, version } = resolve(gvr);
      const obj = structuredClone(objIn) as Obj;
      const m = meta(obj);
      const namespace = t.namespaced ? ((m.namespace as string) ?? 'default') : '';
      const old = bucket(t).get(objKey(namespace, m.name as string));
      if (!old) {
        if (m.resourceVersion) throw new Error(`kube-apiserver put: ${qualified(t)} "${String(m.name)}" does not exist (resourceVersion given)`);
        const status = obj.status;
        const created = create(t, version, namespace, obj);
        if (status === undefined || !t.status || !t.custom) return out(t, version, created);
        return out(t, version, update(t, version, created, { ...structuredClone(created), status }, 'status', {}));
      }
      try {
        let next = update(t, version, old, obj, '', {});
        if (t.status) next = update(t, version, next, { ...structuredClone(next), status: obj.status, metadata: { ...meta(next) } }, 'status', {});
        return out(t, version, next);
      } catch (e) {
        throw new Error(`kube-apiserver put: ${(e as Error).message}`);
      }
    },
    delete(gvr, namespace, name) {
      const { t } = resolve(gvr);
      const old = bucket(t).get(objKey(t.namespaced ? namespace : '', name));
      if (!old) return false;
      remove(t, old);
      return true;
    },
    list(gvr, namespace) {
      const { t, version } = resolve(gvr);
      return listItems(t, namespace ?? '', () => true, () => true).map((o) => out(t, version, o));
    },
    resourceVersion: () => String(rv),
    dropWatches(o = {}) {
      const n = watchers.size;
      for (const w of [...watchers]) {
        if (o.abrupt) {
          watchers.delete(w);
          w.res.socket?.destroy();
        } else w.close();
      }
      return n;
    },
    compact() {
      oldestValidRv = rv;
      history.length = 0;
    },
    failNext(spec) {
      faults.push({ ...spec, left: spec.count ?? 1 });
    },
    watchCount: () => watchers.size,
    async stop() {
      for (const w of [...watchers]) w.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
