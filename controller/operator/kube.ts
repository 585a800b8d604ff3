/**
 * The operator's one I/O boundary with the Kubernetes API: the calls it makes (each one granted by the chart's RBAC,
 * docs/kubernetes.md), over the real @kubernetes/client-node. Tests run the same code against a test API server that
 * speaks the real protocol (test/helpers/kube-apiserver.ts).
 *
 * Also the informers: client-node's informer re-watches when a watch ends, and re-lists on 410 Gone, but after any
 * other error (a refused connection, a failed list) it stops and only reports the error. `RestartingInformer`
 * starts it again, with exponential backoff, until it is stopped.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../telemetry/log';

export const GROUP = 'ringmaster.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const FINALIZER = 'ringmaster.dev/withdraw-candidate';
export const REQUEST_ANNOTATION_PREFIX = 'ringmaster.dev/request.';
export const APPLIED_BY_ANNOTATION = 'ringmaster.dev/applied-by';
export const LEASE_NAME = 'ringmaster-leader';
export const KILLSWITCH_CONFIGMAP = 'ringmaster-killswitch';
export const CHANNEL_CONFIGMAP_PREFIX = 'ringmaster-channel-';
export const CHANNEL_LABEL = 'ringmaster.dev/channel';
export const MANAGED_LABELS = { 'app.kubernetes.io/managed-by': 'ringmaster', 'app.kubernetes.io/part-of': 'ringmaster' } as const;

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
  };
  spec?: unknown;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** A 409 from the API server: the object changed since it was read (or, on create, it exists). */
export class KubeConflictError extends Error {}
export class KubeNotFoundError extends Error {}

/** The calls the operator makes. */
export interface ClusterApi {
  getRollout(namespace: string, name: string): Promise<KubeObject | null>;
  createRollout(namespace: string, obj: KubeObject): Promise<KubeObject>;
  /** JSON merge patch of the object (metadata: finalizers, annotations). */
  patchRollout(namespace: string, name: string, patch: object): Promise<KubeObject>;
  /** JSON merge patch of the /status subresource; a `metadata.resourceVersion` in it is the precondition. */
  patchRolloutStatus(namespace: string, name: string, patch: object): Promise<KubeObject>;
  getConfigMap(namespace: string, name: string): Promise<KubeObject | null>;
  createConfigMap(namespace: string, obj: KubeObject): Promise<KubeObject>;
  patchConfigMap(namespace: string, name: string, patch: object): Promise<KubeObject>;
  createEvent(namespace: string, event: k8s.CoreV1Event): Promise<void>;
}

const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function codeOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** One line for an API error: the status code and the server's message, never a stack or a body dump. */
export function describeKubeError(err: unknown): string {
  const code = codeOf(err);
  let message = err instanceof Error ? err.message : String(err);
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) message = parsed.message;
    } catch {
      // not JSON: keep the error's own message
    }
  }
  message = message.split('\n')[0] ?? message;
  return code === undefined ? message : `HTTP ${code}: ${message}`;
}

async function translate<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const code = codeOf(err);
    if (code === 409) throw new KubeConflictError(describeKubeError(err));
    if (code === 404) throw new KubeNotFoundError(describeKubeError(err));
    throw new Error(describeKubeError(err));
  }
}

async function orNull<T>(work: Promise<T>): Promise<T | null> {
  try {
    return await translate(work);
  } catch (err) {
    if (err instanceof KubeNotFoundError) return null;
    throw err;
  }
}

export function clientNodeClusterApi(kc: k8s.KubeConfig): ClusterApi {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ro = (namespace: string, name: string) => ({ group: GROUP, version: VERSION, plural: 'rollouts', namespace, name });
  return {
    getRollout: (ns, name) => orNull(custom.getNamespacedCustomObject(ro(ns, name)) as Promise<KubeObject>),
    createRollout: (ns, obj) => translate(custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rollouts', namespace: ns, body: obj }) as Promise<KubeObject>),
    patchRollout: (ns, name, patch) => translate(custom.patchNamespacedCustomObject({ ...ro(ns, name), body: patch }, MERGE) as Promise<KubeObject>),
    patchRolloutStatus: (ns, name, patch) => translate(custom.patchNamespacedCustomObjectStatus({ ...ro(ns, name), body: patch }, MERGE) as Promise<KubeObject>),
    getConfigMap: (ns, name) => orNull(core.readNamespacedConfigMap({ namespace: ns, name }) as Promise<KubeObject>),
    createConfigMap: (ns, obj) => translate(core.createNamespacedConfigMap({ namespace: ns, body: obj as k8s.V1ConfigMap }) as Promise<KubeObject>),
    patchConfigMap: (ns, name, patch) => translate(core.patchNamespacedConfigMap({ namespace: ns, name, body: patch }, MERGE) as Promise<KubeObject>),
    createEvent: async (ns, event) => {
      try {
        await translate(core.createNamespacedEvent({ namespace: ns, body: event }));
      } catch (err) {
        // Event names are deterministic: a replayed event already exists, and once is enough.
        if (!(err instanceof KubeConflictError)) throw err;
      }
    },
  };
}

export interface InformerSource<T extends KubeObject> {
  /** API path of the collection, e.g. /apis/ringmaster.dev/v1alpha1/rollouts. */
  path: string;
  list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  labelSelector?: string;
}

/** The collections the operator watches. `namespaces` empty: every namespace. */
export function rolloutSources(kc: k8s.KubeConfig, namespaces: readonly string[]): Array<InformerSource<KubeObject>> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  if (namespaces.length === 0) {
    return [{ path: `/apis/${GROUP}/${VERSION}/rollouts`, list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'rollouts' }) as Promise<{ items: KubeObject[] }> }];
  }
  return namespaces.map((ns) => ({
    path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/rollouts`,
    list: () => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'rollouts', namespace: ns }) as Promise<{ items: KubeObject[] }>,
  }));
}

export function policySource(kc: k8s.KubeConfig, namespace: string): InformerSource<KubeObject> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/policies`,
    list: () => custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'policies', namespace }) as Promise<{ items: KubeObject[] }>,
  };
}

export function configMapSource(kc: k8s.KubeConfig, namespace: string): InformerSource<KubeObject> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labelSelector = 'app.kubernetes.io/managed-by=ringmaster';
  return {
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    labelSelector,
    list: () => core.listNamespacedConfigMap({ namespace, labelSelector }) as Promise<{ items: KubeObject[] }>,
  };
}

export interface InformerHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

/** An informer that is started again (list, then watch) after every error, with backoff, until stop(). */
export class RestartingInformer<T extends KubeObject> {
  private informer: k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private synced = false;
  private readonly syncWaiters: Array<() => void> = [];
  /** Restarts after an error (a test and the metrics read it). */
  restarts = 0;

  constructor(
    kc: k8s.KubeConfig,
    readonly source: InformerSource<T>,
    handlers: InformerHandlers<T>,
    private readonly log: Logger,
    private readonly backoff = { baseMs: 500, maxMs: 30_000 },
  ) {
    const list = async () => {
      const res = await source.list();
      // Every object of the list reaches the handlers through the informer's add/update callbacks, then the cache is synced.
      queueMicrotask(() => this.markSynced());
      return res as unknown as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    this.informer = k8s.makeInformer(kc, source.path, list, source.labelSelector);
    this.informer.on(k8s.ADD, (o) => handlers.upsert(o as unknown as T));
    this.informer.on(k8s.UPDATE, (o) => handlers.upsert(o as unknown as T));
    this.informer.on(k8s.DELETE, (o) => handlers.remove(o as unknown as T));
    this.informer.on(k8s.CONNECT, () => {
      this.failures = 0;
    });
    this.informer.on(k8s.ERROR, (err) => this.onError(err));
  }

  start(): void {
    this.stopped = false;
    this.informer.start().catch((err: unknown) => this.onError(err));
  }

  /** Resolves once the first list has been delivered. */
  synced$(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  list(): T[] {
    return this.informer.list() as unknown as T[];
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(this.failures - 1, 16));
    this.log.warn({ path: this.source.path, err: describeKubeError(err), retryInMs: delay }, 'watch failed; the informer restarts');
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      this.restarts++;
      this.informer.start().catch((e: unknown) => this.onError(e));
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.informer.stop();
  }
}
