/**
 * What the test Kubernetes API server knows about its resource types, and the documents derived from them:
 * the built-in types it serves (core v1 configmaps/secrets/events/namespaces, coordination.k8s.io/v1 leases,
 * apiextensions.k8s.io/v1 customresourcedefinitions),
 * CustomResourceDefinitions turned into the same description, legacy discovery (/api, /apis, APIResourceList),
 * OpenAPI v3 (the index and one document per group-version, enough for kubectl's validation), `as=Table`
 * rendering with printer columns, label/field selectors and Status error bodies. Kept apart from the request
 * handling in kube-apiserver.ts so that each stays readable.
 */

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  versions: string[];
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Declares the /status subresource (status is then written only through it). */
  status: boolean;
  /** A custom resource (CRD): printer columns from the CRD, strategic merge patch refused, unknown fields pruned. */
  custom: boolean;
  printerColumns: PrinterColumn[];
  /** openAPIV3Schema per version (custom resources), or a hand-written schema (built-ins). */
  schemas: Record<string, Record<string, unknown>>;
}

type Obj = Record<string, unknown>;

const ANY_OBJECT = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };

function builtin(t: Omit<ResourceType, 'listKind' | 'categories' | 'custom' | 'printerColumns'>): ResourceType {
  return { ...t, listKind: `${t.kind}List`, categories: [], custom: false, printerColumns: [] };
}

/** The built-in types the operator (and kubectl) use. Their schemas are close to the real ones' top level. */
export function builtinTypes(): ResourceType[] {
  return [
    builtin({
      group: '',
      versions: ['v1'],
      plural: 'configmaps',
      singular: 'configmap',
      kind: 'ConfigMap',
      namespaced: true,
      shortNames: ['cm'],
      status: false,
      schemas: { v1: { type: 'object', properties: { data: STRING_MAP, binaryData: STRING_MAP, immutable: { type: 'boolean' } } } },
    }),
    builtin({
      group: '',
      versions: ['v1'],
      plural: 'secrets',
      singular: 'secret',
      kind: 'Secret',
      namespaced: true,
      shortNames: [],
      status: false,
      schemas: {
        v1: { type: 'object', properties: { data: STRING_MAP, stringData: STRING_MAP, type: { type: 'string' }, immutable: { type: 'boolean' } } },
      },
    }),
    builtin({
      group: '',
      versions: ['v1'],
      plural: 'events',
      singular: 'event',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      status: false,
      schemas: {
        v1: {
          type: 'object',
          properties: Object.fromEntries(
            [
              ['action', 'string'],
              ['count', 'integer'],
              ['eventTime', 'string'],
              ['firstTimestamp', 'string'],
              ['lastTimestamp', 'string'],
              ['message', 'string'],
              ['reason', 'string'],
              ['reportingComponent', 'string'],
              ['reportingInstance', 'string'],
              ['type', 'string'],
            ].map(([k, t]) => [k, { type: t }]),
          ),
        },
      },
    }),
    builtin({
      group: '',
      versions: ['v1'],
      plural: 'namespaces',
      singular: 'namespace',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      status: true,
      schemas: { v1: { type: 'object', properties: { spec: ANY_OBJECT, status: ANY_OBJECT } } },
    }),
    builtin({
      group: 'apiextensions.k8s.io',
      versions: ['v1'],
      plural: 'customresourcedefinitions',
      singular: 'customresourcedefinition',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      status: true,
      schemas: { v1: { type: 'object', properties: { spec: ANY_OBJECT, status: ANY_OBJECT } } },
    }),
    builtin({
      group: 'coordination.k8s.io',
      versions: ['v1'],
      plural: 'leases',
      singular: 'lease',
      kind: 'Lease',
      namespaced: true,
      shortNames: [],
      status: false,
      schemas: {
        v1: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              properties: {
                holderIdentity: { type: 'string' },
                leaseDurationSeconds: { type: 'integer', format: 'int32' },
                acquireTime: { type: 'string', format: 'date-time' },
                renewTime: { type: 'string', format: 'date-time' },
                leaseTransitions: { type: 'integer', format: 'int32' },
                strategy: { type: 'string' },
                preferredHolder: { type: 'string' },
              },
            },
          },
        },
      },
    }),
  ];
}

/** A CustomResourceDefinition (apiextensions.k8s.io/v1) → ResourceType; throws on a malformed one. */
export function crdType(crd: Obj): ResourceType {
  const spec = (crd.spec ?? {}) as Obj;
  const names = (spec.names ?? {}) as Obj;
  const group = spec.group;
  const plural = names.plural;
  const kind = names.kind;
  if (typeof group !== 'string' || typeof plural !== 'string' || typeof kind !== 'string') {
    throw new Error('kube-apiserver: a CRD needs spec.group, spec.names.plural and spec.names.kind');
  }
  const versions = ((spec.versions ?? []) as Obj[]).filter((v) => v.served !== false);
  if (versions.length === 0) throw new Error(`kube-apiserver: CRD ${plural}.${group} serves no version`);
  const first = versions[0] as Obj;
  const subresources = (first.subresources ?? {}) as Obj;
  const schemas: Record<string, Record<string, unknown>> = {};
  for (const v of versions) {
    schemas[v.name as string] = (((v.schema ?? {}) as Obj).openAPIV3Schema ?? ANY_OBJECT) as Record<string, unknown>;
  }
  return {
    group,
    versions: versions.map((v) => v.name as string),
    plural,
    singular: typeof names.singular === 'string' ? names.singular : kind.toLowerCase(),
    kind,
    listKind: typeof names.listKind === 'string' ? names.listKind : `${kind}List`,
    namespaced: spec.scope !== 'Cluster',
    shortNames: (names.shortNames ?? []) as string[],
    categories: (names.categories ?? []) as string[],
    status: 'status' in subresources,
    custom: true,
    printerColumns: (first.additionalPrinterColumns ?? []) as PrinterColumn[],
    schemas,
  };
}

export function apiVersionOf(t: ResourceType, version: string): string {
  return t.group ? `${t.group}/${version}` : version;
}

// ---- Status bodies ----

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Obj;
  status: 'Failure';
  message: string;
  reason: string;
  details?: Obj;
  code: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export function statusBody(code: number, message: string, reason?: string, details?: Obj): StatusBody {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: reason ?? REASONS[code] ?? 'Unknown', code };
  if (details) body.details = details;
  return body;
}

// ---- Discovery ----

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResourceList(types: ResourceType[], group: string, version: string): Obj {
  const resources: Obj[] = [];
  for (const t of types.filter((x) => x.group === group && x.versions.includes(version))) {
    const r: Obj = { name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: ALL_VERBS };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    if (t.status) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

export function apiGroup(types: ResourceType[], group: string): Obj | undefined {
  const versions = [...new Set(types.filter((t) => t.group === group).flatMap((t) => t.versions))];
  if (versions.length === 0) return undefined;
  const v = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: v, preferredVersion: v[0] };
}

export function apiGroupList(types: ResourceType[]): Obj {
  const groups = [...new Set(types.map((t) => t.group).filter((g) => g !== ''))].sort();
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => ({ ...apiGroup(types, g), kind: undefined, apiVersion: undefined })) };
}

export function groupVersions(types: ResourceType[]): Array<{ group: string; version: string }> {
  const seen = new Map<string, { group: string; version: string }>();
  for (const t of types) for (const version of t.versions) seen.set(`${t.group}/${version}`, { group: t.group, version });
  return [...seen.values()];
}

// ---- OpenAPI v3 ----

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** Reverse-DNS schema name as the real server uses: dev.ringmaster.v1alpha1.Rollout, io.k8s.api.core.v1.ConfigMap. */
function schemaName(t: ResourceType, version: string): string {
  if (!t.custom) {
    const pkg = t.group === '' ? 'core' : t.group.split('.')[0];
    return `io.k8s.api.${pkg}.${version}.${t.kind}`;
  }
  return `${t.group.split('.').reverse().join('.')}.${version}.${t.kind}`;
}

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const LIST_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta';

function metaSchemas(): Record<string, Obj> {
  const str = { type: 'string' };
  return {
    [OBJECT_META]: {
      type: 'object',
      properties: {
        name: str,
        generateName: str,
        namespace: str,
        uid: str,
        resourceVersion: str,
        generation: { type: 'integer', format: 'int64' },
        creationTimestamp: { type: 'string', format: 'date-time' },
        deletionTimestamp: { type: 'string', format: 'date-time' },
        deletionGracePeriodSeconds: { type: 'integer', format: 'int64' },
        labels: STRING_MAP,
        annotations: STRING_MAP,
        finalizers: { type: 'array', items: str },
        ownerReferences: { type: 'array', items: ANY_OBJECT },
        managedFields: { type: 'array', items: ANY_OBJECT },
        selfLink: str,
      },
    },
    [LIST_META]: { type: 'object', properties: { resourceVersion: str, continue: str, remainingItemCount: { type: 'integer' }, selfLink: str } },
  };
}

/** `/openapi/v3`: the index kubectl reads first. */
export function openApiIndex(types: ResourceType[], hash: string): Obj {
  const paths: Record<string, Obj> = {};
  for (const { group, version } of groupVersions(types)) {
    const p = gvPath(group, version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  return { paths };
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'].map((name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } }));

/**
 * `/openapi/v3/apis/<group>/<version>`: the schemas (with x-kubernetes-group-version-kind, metadata by $ref as the
 * real server does) and the paths with their operations. kubectl looks for a PATCH operation of the kind that takes
 * `fieldValidation` to decide that the server validates fields (it then sends fieldValidation=Strict).
 */
export function openApiDoc(types: ResourceType[], group: string, version: string): Obj | undefined {
  const inGv = types.filter((t) => t.group === group && t.versions.includes(version));
  if (inGv.length === 0) return undefined;
  const schemas: Record<string, Obj> = metaSchemas();
  const paths: Record<string, Obj> = {};
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  for (const t of inGv) {
    const gvk = { group, version, kind: t.kind };
    const raw = structuredClone(t.schemas[version] ?? ANY_OBJECT) as Obj;
    const props = { ...((raw.properties ?? {}) as Obj) };
    props.apiVersion = { type: 'string' };
    props.kind = { type: 'string' };
    props.metadata = { allOf: [{ $ref: `#/components/schemas/${OBJECT_META}` }], default: {} };
    const name = schemaName(t, version);
    schemas[name] = { ...raw, type: 'object', properties: props, 'x-kubernetes-group-version-kind': [gvk] };
    schemas[`${name}List`] = {
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        items: { type: 'array', items: { $ref: `#/components/schemas/${name}` } },
        metadata: { allOf: [{ $ref: `#/components/schemas/${LIST_META}` }], default: {} },
      },
      'x-kubernetes-group-version-kind': [{ ...gvk, kind: t.listKind }],
    };
    const ref = { content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } };
    const op = (action: string, extra: Obj = {}): Obj => ({
      operationId: `${action}${t.kind}`,
      responses: { '200': { description: 'OK', ...ref } },
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      ...extra,
    });
    const coll = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.plural}` : `${prefix}/${t.plural}`;
    const pathParams = (withName: boolean): Obj[] => [
      ...(t.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] : []),
      ...(withName ? [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }] : []),
    ];
    paths[coll] = { get: op('list'), post: op('post', { parameters: QUERY_PARAMS, requestBody: ref }), delete: op('deletecollection'), parameters: pathParams(false) };
    // kubectl apply of a built-in uses strategic merge patch when the PATCH operation lists it
    const patchTypes = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', ...(t.custom ? [] : ['application/strategic-merge-patch+json'])];
    const patchBody = { content: Object.fromEntries(patchTypes.map((c) => [c, { schema: { type: 'object' } }])) };
    const item = {
      get: op('get'),
      put: op('put', { parameters: QUERY_PARAMS, requestBody: ref }),
      patch: op('patch', { parameters: [...QUERY_PARAMS, { name: 'force', in: 'query', schema: { type: 'boolean' } }], requestBody: patchBody }),
      delete: op('delete'),
      parameters: pathParams(true),
    };
    paths[`${coll}/{name}`] = item;
    if (t.status) paths[`${coll}/{name}/status`] = { ...item, delete: undefined };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.34.5' }, paths, components: { schemas } };
}

// ---- Selectors ----

export type Selector = (labels: Record<string, string>) => boolean;

/** Equality-based label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and the set forms `a in (x,y)`, `a notin (x)`. */
export function parseLabelSelector(s: string | null): Selector {
  if (!s) return () => true;
  const reqs: Selector[] = [];
  // split on commas outside parentheses
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts.map((p) => p.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s*!=\s*(\S*)$/.exec(raw))) {
      const [, k, v] = m as unknown as [string, string, string];
      reqs.push((l) => l[k] !== v);
    } else if ((m = /^([\w./-]+)\s*==?\s*(\S*)$/.exec(raw))) {
      const [, k, v] = m as unknown as [string, string, string];
      reqs.push((l) => l[k] === v);
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(raw))) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const vals = list.split(',').map((x) => x.trim());
      reqs.push(op === 'in' ? (l) => k in l && vals.includes(l[k] as string) : (l) => !(k in l) || !vals.includes(l[k] as string));
    } else if ((m = /^!([\w./-]+)$/.exec(raw))) {
      const k = m[1] as string;
      reqs.push((l) => !(k in l));
    } else if ((m = /^([\w./-]+)$/.exec(raw))) {
      const k = m[1] as string;
      reqs.push((l) => k in l);
    } else {
      throw new Error(`unable to parse requirement: "${raw}"`);
    }
  }
  return (l) => reqs.every((r) => r(l));
}

export type FieldSelector = (obj: Obj) => boolean;

/** `metadata.name`, `metadata.namespace` with `=`, `==`, `!=`, comma-separated (what the real server allows for CRs). */
export function parseFieldSelector(s: string | null): FieldSelector {
  if (!s) return () => true;
  const reqs: FieldSelector[] = [];
  for (const raw of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([\w.]+)\s*(!=|==|=)\s*(.*)$/.exec(raw);
    if (!m) throw new Error(`invalid selector: '${s}'; can't understand '${raw}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (field !== 'metadata.name' && field !== 'metadata.namespace') {
      throw new Error(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    const key = field === 'metadata.name' ? 'name' : 'namespace';
    reqs.push((o) => {
      const actual = ((o.metadata ?? {}) as Obj)[key] ?? '';
      return op === '!=' ? actual !== value : actual === value;
    });
  }
  return (o) => reqs.every((r) => r(o));
}

// ---- Table ----

/** `.a.b`, `.a[0].b`, `.a['x.y']` (the simple JSONPath CRD printer columns use) → value or undefined. */
export function simpleJsonPath(obj: unknown, path: string): unknown {
  const p = path.trim().replace(/^\{(.*)\}$/, '$1').replace(/^\$/, '');
  const re = /\.([^.[\]]+)|\[(\d+)\]|\['([^']+)'\]|\["([^"]+)"\]/g;
  let cur: unknown = obj;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(p))) {
    if (m.index !== consumed) return undefined;
    consumed = re.lastIndex;
    const key = m[1] ?? m[3] ?? m[4];
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = key !== undefined ? (cur as Obj)[key] : (cur as unknown[])[Number(m[2])];
    if (cur === undefined) return undefined;
  }
  return consumed === p.length ? cur : undefined;
}

/** The age the real server prints for built-ins (duration.HumanDuration, short form). */
export function humanAge(created: unknown, now = Date.now()): string {
  if (typeof created !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 8 && h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

const NAME_COLUMN = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  priority: 0,
};

/**
 * A meta.k8s.io/v1 Table. Custom resources: Name + the CRD's additionalPrinterColumns (or Name + Age when it has
 * none). Built-ins: Name + Age. Date cells are ages ("5m"), formatted by the server as the real one does: kubectl
 * prints cells as they come.
 * `includeObject`: None | Metadata (default, PartialObjectMetadata) | Object.
 */
export function table(t: ResourceType, items: Obj[], resourceVersion: string, includeObject: string | null): Obj {
  const columns: PrinterColumn[] =
    t.custom && t.printerColumns.length > 0
      ? t.printerColumns
      : [{ name: 'Age', type: t.custom ? 'date' : 'string', jsonPath: '.metadata.creationTimestamp', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' }];
  const columnDefinitions = [
    NAME_COLUMN,
    ...columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
  ];
  const rows = items.map((o) => {
    const meta = (o.metadata ?? {}) as Obj;
    const cells: unknown[] = [meta.name];
    for (const c of columns) {
      const v = simpleJsonPath(o, c.jsonPath);
      if (v === undefined) cells.push(null);
      else if (c.type === 'date' || (!t.custom && c.jsonPath === '.metadata.creationTimestamp')) cells.push(humanAge(v));
      else if (c.type === 'string' && typeof v === 'object') cells.push(JSON.stringify(v));
      else cells.push(v);
    }
    const row: Obj = { cells };
    if (includeObject === 'Object') row.object = o;
    else if (includeObject !== 'None') row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta };
    return row;
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions, rows };
}
