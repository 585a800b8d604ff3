/**
 * The Helm chart (charts/ringmaster) rendered by the real helm binary, for the chart test and the operator's RBAC
 * test.
 *
 * - `renderChart(values, opts)` runs `helm template` and returns the parsed documents.
 * - `rbacGrants(docs)` flattens what the rendered (Cluster)Roles grant to the operator's ServiceAccount, through the
 *   bindings that name it, into one entry per (scope, apiGroup, resource, verb). The lead's RBAC test compares this
 *   with the calls the operator really made against the test API server, both ways.
 *
 * helm comes from scripts/install-k8s-tools.sh (.tools/bin/helm, fetched once); every run gets a fresh HOME so that
 * no user configuration or cache leaks in.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';

export const ROOT = path.resolve(__dirname, '../..');
export const CHART_DIR = path.join(ROOT, 'charts/ringmaster');
export const CHART_FIXTURES = path.join(ROOT, 'test/fixtures/chart');

/** A rendered Kubernetes object (only the fields every object has are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

let helmPath: string | undefined;

/** The real helm binary; fetched by the project's script on first use when it is missing. */
export function helmBin(): string {
  if (helmPath !== undefined) return helmPath;
  const candidate = path.join(ROOT, '.tools/bin/helm');
  if (!fs.existsSync(candidate)) {
    const dir = execFileSync(path.join(ROOT, 'scripts/install-k8s-tools.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    helmPath = path.join(dir, 'helm');
  } else {
    helmPath = candidate;
  }
  return helmPath;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args` in a throwaway HOME (helm's config, cache and data dirs live under it). */
export function runHelm(args: string[]): HelmResult {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-helm-home-'));
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
    const r = spawnSync(helmBin(), args, { encoding: 'utf8', env, cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

export interface RenderOptions {
  /** Release name (default "ringmaster"). */
  releaseName?: string;
  /** Release namespace (default "ringmaster"). */
  namespace?: string;
  /** Also render crds/ (`--include-crds`). */
  includeCrds?: boolean;
  /** Values files, before `values` (e.g. test/fixtures/chart/all-on.yaml). */
  valuesFiles?: string[];
  /** `--set` expressions, applied last. */
  set?: string[];
}

export class ChartRenderError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ChartRenderError';
  }
}

/** The `helm template` arguments of a render; `valuesFile` is the temp file holding `values`. */
function templateArgs(opts: RenderOptions, valuesFile?: string): string[] {
  const args = ['template', opts.releaseName ?? 'ringmaster', CHART_DIR, '--namespace', opts.namespace ?? 'ringmaster'];
  if (opts.includeCrds) args.push('--include-crds');
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  if (valuesFile !== undefined) args.push('--values', valuesFile);
  for (const s of opts.set ?? []) args.push('--set', s);
  return args;
}

/** `helm template` of the chart, unparsed; throws ChartRenderError (helm's stderr) when helm refuses. */
export function renderChartText(values?: object, opts: RenderOptions = {}): string {
  let dir: string | undefined;
  try {
    let valuesFile: string | undefined;
    if (values !== undefined) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-chart-values-'));
      valuesFile = path.join(dir, 'values.json');
      fs.writeFileSync(valuesFile, JSON.stringify(values));
    }
    const r = runHelm(templateArgs(opts, valuesFile));
    if (r.status !== 0) throw new ChartRenderError(`helm template failed (exit ${r.status}): ${r.stderr.trim()}`, r.stderr);
    return r.stdout;
  } finally {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Parses a multi-document YAML stream of Kubernetes objects; empty documents are dropped. */
export function parseDocuments(text: string): K8sObject[] {
  const docs: K8sObject[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message ?? 'unknown error'}`);
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const o = obj as Partial<K8sObject>;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`rendered document is not a Kubernetes object (apiVersion, kind, metadata.name): ${JSON.stringify(obj).slice(0, 200)}`);
    }
    docs.push(o as K8sObject);
  }
  return docs;
}

/** The chart rendered by the real helm with these values, parsed. */
export function renderChart(values?: object, opts: RenderOptions = {}): K8sObject[] {
  return parseDocuments(renderChartText(values, opts));
}

// ------------------------------------------------------------------------------------------------- RBAC

export interface RbacGrant {
  /** 'cluster' for a ClusterRoleBinding, else the namespace of the RoleBinding. */
  scope: 'cluster' | string;
  /** "" for the core group. */
  apiGroup: string;
  /** "rollouts/status" for a subresource; "nonResourceURL:/path" for a non-resource rule. */
  resource: string;
  verb: string;
  /** Present only when the rule narrows the grant to these object names. */
  resourceNames?: string[];
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

export interface ServiceAccountRef {
  name: string;
  namespace: string;
}

/** The ServiceAccount the rendered Deployment runs as (its serviceAccountName, in its namespace). */
export function operatorServiceAccount(docs: K8sObject[]): ServiceAccountRef {
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  if (deployments.length !== 1) throw new Error(`expected one rendered Deployment, found ${deployments.length}`);
  const d = deployments[0] as K8sObject & { spec?: { template?: { spec?: { serviceAccountName?: string } } } };
  const name = d.spec?.template?.spec?.serviceAccountName ?? 'default';
  const namespace = d.metadata.namespace;
  if (namespace === undefined) throw new Error(`Deployment ${d.metadata.name} has no metadata.namespace`);
  return { name, namespace };
}

function subjectIs(s: Subject, sa: ServiceAccountRef, bindingNamespace: string | undefined): boolean {
  if (s.kind === 'ServiceAccount') return s.name === sa.name && (s.namespace ?? bindingNamespace) === sa.namespace;
  // Groups every ServiceAccount token carries.
  if (s.kind === 'Group') return ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'].includes(s.name);
  if (s.kind === 'User') return s.name === `system:serviceaccount:${sa.namespace}:${sa.name}`;
  return false;
}

/**
 * Every grant of the rendered RBAC objects to the operator's ServiceAccount (default: the Deployment's), one entry
 * per (scope, apiGroup, resource, verb), sorted, without duplicates. Throws when a binding that names the account
 * refers to a role the chart does not render (its rules would be unknown) or to an aggregated ClusterRole.
 */
export function rbacGrants(docs: K8sObject[], serviceAccount?: ServiceAccountRef): RbacGrant[] {
  const sa = serviceAccount ?? operatorServiceAccount(docs);
  const roles = new Map<string, K8sObject & { rules?: PolicyRule[]; aggregationRule?: unknown }>();
  for (const d of docs) {
    if (d.apiVersion !== 'rbac.authorization.k8s.io/v1') continue;
    if (d.kind === 'ClusterRole') roles.set(`ClusterRole//${d.metadata.name}`, d);
    if (d.kind === 'Role') roles.set(`Role/${d.metadata.namespace ?? ''}/${d.metadata.name}`, d);
  }
  const out = new Map<string, RbacGrant>();
  for (const d of docs) {
    if (d.apiVersion !== 'rbac.authorization.k8s.io/v1' || (d.kind !== 'RoleBinding' && d.kind !== 'ClusterRoleBinding')) continue;
    const b = d as K8sObject & { roleRef: { kind: string; name: string }; subjects?: Subject[] };
    const ns = d.kind === 'RoleBinding' ? d.metadata.namespace : undefined;
    if (d.kind === 'RoleBinding' && ns === undefined) throw new Error(`RoleBinding ${d.metadata.name} has no metadata.namespace`);
    if (!(b.subjects ?? []).some((s) => subjectIs(s, sa, ns))) continue;
    const key = b.roleRef.kind === 'ClusterRole' ? `ClusterRole//${b.roleRef.name}` : `Role/${ns ?? ''}/${b.roleRef.name}`;
    const role = roles.get(key);
    if (role === undefined) throw new Error(`${d.kind} ${d.metadata.name} binds ${b.roleRef.kind} ${b.roleRef.name}, which the chart does not render`);
    if (role.aggregationRule !== undefined) throw new Error(`${b.roleRef.kind} ${b.roleRef.name} is aggregated: its rules are not known from the chart`);
    const scope = ns ?? 'cluster';
    for (const rule of role.rules ?? []) {
      for (const verb of rule.verbs ?? []) {
        const targets: Array<[string, string]> = [];
        for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) targets.push([group, resource]);
        for (const url of rule.nonResourceURLs ?? []) targets.push(['', `nonResourceURL:${url}`]);
        for (const [apiGroup, resource] of targets) {
          const g: RbacGrant = { scope, apiGroup, resource, verb };
          if (rule.resourceNames !== undefined && rule.resourceNames.length > 0) g.resourceNames = [...rule.resourceNames].sort();
          out.set(JSON.stringify(g), g);
        }
      }
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}
