/**
 * The Helm chart charts/ringmaster with the real helm binary (scripts/install-k8s-tools.sh): lint, render with the
 * default values, with every option on and with a namespace list, every rendered object checked against the
 * Kubernetes schemas (kubernetes-models, prometheus-operator models), the restricted pod security and probes, the
 * least-privilege RBAC, the Secrets the operator reads, values.schema.json refusing typos, and `promtool check rules`
 * on the rendered PrometheusRule.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { TokenSet } from '../../controller/api/tokens';
import { ensureBuilt } from '../helpers/build';
import { CHART_DIR, CHART_FIXTURES, ROOT, ChartRenderError, rbacGrants, renderChart, renderChartText, runHelm, type K8sObject, type RbacGrant } from '../helpers/chart';

const ALL_ON = path.join(CHART_FIXTURES, 'all-on.yaml');
const NS = 'ringmaster';
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

type Model = new (data: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Validates every document against its Kubernetes model; an object of a kind without a model fails the test. */
function validateAll(docs: K8sObject[]): void {
  for (const d of docs) {
    const model = MODELS[`${d.apiVersion}/${d.kind}`];
    if (model === undefined) throw new Error(`no schema model for ${d.apiVersion} ${d.kind} (${d.metadata.name}): add one to MODELS`);
    try {
      new model(d as never).validate();
    } catch (err) {
      throw new Error(`${d.kind} ${d.metadata.name}: ${(err as Error).message}`);
    }
  }
}

function kinds(docs: K8sObject[]): string[] {
  return docs.map((d) => `${d.kind}/${d.metadata.namespace ?? '-'}/${d.metadata.name}`).sort();
}

function one<T = Record<string, unknown>>(docs: K8sObject[], kind: string): K8sObject & T {
  const found = docs.filter((d) => d.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as K8sObject & T;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; valueFrom?: unknown; value?: string }>;
  ports: unknown[];
  livenessProbe: unknown;
  readinessProbe: unknown;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: unknown;
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  securityContext: unknown;
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: unknown; secret?: { secretName: string; defaultMode: number; items: Array<{ key: string; path: string }> }; persistentVolumeClaim?: { claimName: string } }>;
  topologySpreadConstraints?: Array<{ topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Record<string, string> } }>;
}
type DeploymentDoc = K8sObject & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; strategy: { type: string }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } } };

function deployment(docs: K8sObject[]): { d: DeploymentDoc; pod: PodSpec; c: Container } {
  const d = one(docs, 'Deployment') as DeploymentDoc;
  const pod = d.spec.template.spec;
  expect(pod.containers).toHaveLength(1);
  return { d, pod, c: pod.containers[0] as Container };
}

/** The value after `flag` in the container's args (undefined when the flag is absent). */
function arg(c: Container, flag: string): string | undefined {
  const i = c.args.indexOf(flag);
  return i < 0 ? undefined : c.args[i + 1];
}

function secretData(docs: K8sObject[], name: string, key: string): string {
  const s = docs.find((d) => d.kind === 'Secret' && d.metadata.name === name) as (K8sObject & { data: Record<string, string> }) | undefined;
  if (s === undefined) throw new Error(`no Secret ${name} rendered`);
  const b64 = s.data[key];
  if (b64 === undefined) throw new Error(`Secret ${name} has no key ${key}`);
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** contract.md's table of the operator's API calls, as grants in `watched` scopes and the release namespace. */
function contractGrants(watched: string[]): RbacGrant[] {
  const g: RbacGrant[] = [];
  for (const scope of watched) {
    for (const verb of ['get', 'list', 'watch', 'create', 'patch']) g.push({ scope, apiGroup: 'ringmaster.dev', resource: 'rollouts', verb });
    g.push({ scope, apiGroup: 'ringmaster.dev', resource: 'rollouts/status', verb: 'patch' });
    g.push({ scope, apiGroup: '', resource: 'events', verb: 'create' });
  }
  for (const verb of ['list', 'watch']) g.push({ scope: NS, apiGroup: 'ringmaster.dev', resource: 'policies', verb });
  for (const verb of ['get', 'list', 'watch', 'create', 'patch']) g.push({ scope: NS, apiGroup: '', resource: 'configmaps', verb });
  g.push({ scope: NS, apiGroup: 'coordination.k8s.io', resource: 'leases', verb: 'create' });
  // The kill switch's Events, in the release namespace: granted there when it is not among the watched ones.
  if (!watched.includes('cluster') && !watched.includes(NS)) g.push({ scope: NS, apiGroup: '', resource: 'events', verb: 'create' });
  for (const verb of ['get', 'update']) g.push({ scope: NS, apiGroup: 'coordination.k8s.io', resource: 'leases', verb, resourceNames: ['ringmaster-leader'] });
  return g.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

function sortGrants(g: RbacGrant[]): RbacGrant[] {
  return [...g].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

function renderError(values: object, opts: Parameters<typeof renderChart>[1] = {}): string {
  try {
    renderChart(values, opts);
  } catch (err) {
    if (err instanceof ChartRenderError) return err.message;
    throw err;
  }
  throw new Error(`helm template accepted ${JSON.stringify(values)}`);
}

const CRD_FILES = ['rollouts.ringmaster.dev.yaml', 'policies.ringmaster.dev.yaml'];

let defaults: K8sObject[];
let allOn: K8sObject[];
let listed: K8sObject[];
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-chart-test-'));
  defaults = renderChart();
  allOn = renderChart(undefined, { valuesFiles: [ALL_ON] });
  listed = renderChart({ watchNamespaces: ['team-a', 'team-b'] });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('helm lint --strict', () => {
  test.each([
    ['the default values', [] as string[]],
    ['every option on', ['--values', ALL_ON]],
    ['watchNamespaces', ['--set', 'watchNamespaces={team-a,team-b}']],
  ])('passes with %s', (_name, args) => {
    const r = runHelm(['lint', '--strict', CHART_DIR, '--namespace', NS, ...args]);
    expect(`${r.stdout}${r.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.status).toBe(0);
  });
});

describe('helm template', () => {
  test('default values: the objects, each valid against its Kubernetes schema', () => {
    expect(kinds(defaults)).toEqual([
      'ClusterRole/-/ringmaster-ringmaster-rollouts',
      'ClusterRoleBinding/-/ringmaster-ringmaster-rollouts',
      'Deployment/ringmaster/ringmaster',
      'Role/ringmaster/ringmaster-operator',
      'RoleBinding/ringmaster/ringmaster-operator',
      'Secret/ringmaster/ringmaster-signing-key',
      'Secret/ringmaster/ringmaster-tokens',
      'Service/ringmaster/ringmaster',
      'ServiceAccount/ringmaster/ringmaster',
    ]);
    validateAll(defaults);
  });

  test('every option on: the optional objects too, each valid', () => {
    expect(kinds(allOn)).toEqual([
      'ClusterRole/-/ringmaster-ringmaster-rollouts',
      'ClusterRoleBinding/-/ringmaster-ringmaster-rollouts',
      'Deployment/ringmaster/ringmaster',
      'Ingress/ringmaster/ringmaster',
      'NetworkPolicy/ringmaster/ringmaster',
      'PersistentVolumeClaim/ringmaster/ringmaster-audit',
      'PodDisruptionBudget/ringmaster/ringmaster',
      'PrometheusRule/ringmaster/ringmaster',
      'Role/ringmaster/ringmaster-operator',
      'RoleBinding/ringmaster/ringmaster-operator',
      'Secret/ringmaster/ringmaster-signing-key',
      'Secret/ringmaster/ringmaster-tokens',
      'Service/ringmaster/ringmaster',
      'ServiceAccount/ringmaster/ringmaster',
      'ServiceMonitor/ringmaster/ringmaster',
    ]);
    validateAll(allOn);
  });

  test('watchNamespaces: a Role and RoleBinding in each listed namespace and no cluster-wide grant', () => {
    expect(kinds(listed)).toEqual([
      'Deployment/ringmaster/ringmaster',
      'Role/ringmaster/ringmaster-operator',
      'Role/team-a/ringmaster-rollouts',
      'Role/team-b/ringmaster-rollouts',
      'RoleBinding/ringmaster/ringmaster-operator',
      'RoleBinding/team-a/ringmaster-rollouts',
      'RoleBinding/team-b/ringmaster-rollouts',
      'Secret/ringmaster/ringmaster-signing-key',
      'Secret/ringmaster/ringmaster-tokens',
      'Service/ringmaster/ringmaster',
      'ServiceAccount/ringmaster/ringmaster',
    ]);
    validateAll(listed);
    expect(arg(deployment(listed).c, '--watch-namespaces')).toBe('team-a,team-b');
  });

  test('--include-crds: the Rollout and Policy CRDs of crds/, valid CustomResourceDefinitions', () => {
    for (const f of CRD_FILES) expect(fs.existsSync(path.join(CHART_DIR, 'crds', f))).toBe(true);
    const docs = renderChart(undefined, { includeCrds: true });
    const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    expect(crds.map((d) => d.metadata.name).sort()).toEqual(['policies.ringmaster.dev', 'rollouts.ringmaster.dev']);
    validateAll(crds);
    expect(docs.length - crds.length).toBe(defaults.length);
  });

  test('a validator that can fail: a wrong field type is caught by the models', () => {
    const broken = JSON.parse(JSON.stringify(defaults)) as K8sObject[];
    (one(broken, 'Deployment') as DeploymentDoc).spec.replicas = 'two' as unknown as number;
    expect(() => validateAll(broken)).toThrow(/Deployment ringmaster: .*replicas/);
    expect(() => validateAll([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }])).toThrow(/no schema model/);
  });
});

describe('the Deployment', () => {
  test('2 replicas of `ringmaster operator` with the contract command line', () => {
    const { d, c } = deployment(defaults);
    expect(d.spec.replicas).toBe(2);
    expect(c.image).toBe('ghcr.io/ringmaster-dev/ringmaster:0.1.0');
    expect(c.args).toEqual([
      'operator',
      '--namespace', NS,
      '--listen', '0.0.0.0:8080',
      '--signing-key', '/etc/ringmaster/signing/signing.key',
      '--tokens', '/etc/ringmaster/tokens/tokens.yaml',
      '--lease-duration', '15s',
      '--renew-period', '5s',
    ]);
    expect(c.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(d.spec.strategy.type).toBe('RollingUpdate');
  });

  test('every option on: prometheus URL, lease settings, audit database, extra arguments', () => {
    const { d, pod, c } = deployment(allOn);
    expect(arg(c, '--prometheus-url')).toBe('http://prometheus-operated.monitoring.svc:9090');
    expect(arg(c, '--lease-duration')).toBe('20s');
    expect(arg(c, '--renew-period')).toBe('4s');
    expect(arg(c, '--audit-db')).toBe('/var/lib/ringmaster/audit-$(POD_NAME).db');
    expect(arg(c, '--watch-namespaces')).toBeUndefined();
    expect(c.args.slice(-2)).toEqual(['--log-level', 'info']);
    expect(c.volumeMounts).toContainEqual({ name: 'audit', mountPath: '/var/lib/ringmaster' });
    expect(pod.volumes).toContainEqual({ name: 'audit', persistentVolumeClaim: { claimName: 'ringmaster-audit' } });
    // A ReadWriteMany audit volume can be attached to the old and new pods of a rolling update.
    expect(d.spec.strategy.type).toBe('RollingUpdate');
    const single = deployment(renderChart({ replicaCount: 1, audit: { persistence: { enabled: true } } })).d;
    expect(single.spec.strategy.type).toBe('Recreate');
  });

  test('the restricted securityContext', () => {
    for (const docs of [defaults, allOn]) {
      const { pod, c } = deployment(docs);
      expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    }
  });

  test('probes on /healthz and /readyz, resources, a writable /tmp, spread across nodes, time to release the lease', () => {
    const { d, pod, c } = deployment(defaults);
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 6 });
    expect(c.readinessProbe).toEqual({ httpGet: { path: '/readyz', port: 'http' }, initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 });
    expect(c.resources.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes).toContainEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
    const spread = pod.topologySpreadConstraints ?? [];
    expect(spread).toHaveLength(1);
    expect(spread[0]?.topologyKey).toBe('kubernetes.io/hostname');
    expect(spread[0]?.labelSelector.matchLabels).toEqual(d.spec.selector.matchLabels);
    // Longer than a renew period plus the HTTP drain; the lease release itself is one update.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(15);
    expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
  });

  test('the secrets are mounted read-only, mode 0440 (group-readable through fsGroup, not world-readable)', () => {
    const { pod, c } = deployment(defaults);
    expect(pod.volumes).toContainEqual({ name: 'signing-key', secret: { secretName: 'ringmaster-signing-key', defaultMode: 0o440, items: [{ key: 'signing.key', path: 'signing.key' }] } });
    expect(pod.volumes).toContainEqual({ name: 'tokens', secret: { secretName: 'ringmaster-tokens', defaultMode: 0o440, items: [{ key: 'tokens.yaml', path: 'tokens.yaml' }] } });
    expect(c.volumeMounts).toContainEqual({ name: 'signing-key', mountPath: '/etc/ringmaster/signing', readOnly: true });
    expect(c.volumeMounts).toContainEqual({ name: 'tokens', mountPath: '/etc/ringmaster/tokens', readOnly: true });
  });
});

describe('RBAC', () => {
  test('all namespaces: exactly the contract verbs (cluster-wide rollouts and events, the rest in the release namespace)', () => {
    expect(sortGrants(rbacGrants(defaults))).toEqual(contractGrants(['cluster']));
  });

  test('watchNamespaces: the same verbs in each listed namespace, nothing cluster-wide', () => {
    expect(sortGrants(rbacGrants(listed))).toEqual(contractGrants(['team-a', 'team-b']));
  });

  test('every option on grants nothing more', () => {
    expect(sortGrants(rbacGrants(allOn))).toEqual(contractGrants(['cluster']));
  });

  test('rbacGrants counts only bindings to the operator account, and refuses bindings it cannot resolve', () => {
    const rule = { apiGroups: [''], resources: ['secrets'], verbs: ['get'] };
    const other: K8sObject[] = [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'secrets', namespace: NS }, rules: [rule] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'someone-else', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' }, subjects: [{ kind: 'ServiceAccount', name: 'other', namespace: NS }] },
    ];
    expect(sortGrants(rbacGrants([...defaults, ...other]))).toEqual(contractGrants(['cluster']));
    const mine: K8sObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'mine', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' }, subjects: [{ kind: 'ServiceAccount', name: 'ringmaster', namespace: NS }] };
    expect(rbacGrants([...defaults, ...other, mine])).toContainEqual({ scope: NS, apiGroup: '', resource: 'secrets', verb: 'get' });
    const builtin: K8sObject = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'view' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts' }] };
    expect(() => rbacGrants([...defaults, builtin])).toThrow(/binds ClusterRole view, which the chart does not render/);
  });

  test('no access to Secrets: they are mounted as files', () => {
    for (const docs of [defaults, allOn, listed]) expect(rbacGrants(docs).filter((g) => g.resource === 'secrets')).toEqual([]);
  });
});

describe('the Secrets', () => {
  test('a generated ed25519 signing key (PKCS#8 PEM), kept on uninstall', () => {
    const pem = secretData(defaults, 'ringmaster-signing-key', 'signing.key');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = crypto.createPrivateKey(pem);
    expect(key.asymmetricKeyType).toBe('ed25519');
    const sig = crypto.sign(null, Buffer.from('manifest'), key);
    expect(crypto.verify(null, Buffer.from('manifest'), crypto.createPublicKey(key), sig)).toBe(true);
    const secret = defaults.find((d) => d.metadata.name === 'ringmaster-signing-key') as K8sObject;
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    // Each render without a cluster generates a fresh key (with a cluster, `lookup` keeps the installed one).
    expect(secretData(allOn, 'ringmaster-signing-key', 'signing.key')).not.toBe(pem);
  });

  test('the tokens file is what the operator loads (names, roles, sha256 only)', () => {
    const text = secretData(allOn, 'ringmaster-tokens', 'tokens.yaml');
    const set = TokenSet.fromText(text, 'tokens.yaml');
    expect(set.size).toBe(3);
    expect(set.authenticate('ringmaster-example-deployer')).toEqual({ name: 'example-deployer', role: 'deployer' });
    expect(set.authenticate('ringmaster-example-agent')).toEqual({ name: 'example-agents', role: 'agent' });
    expect(TokenSet.fromText(secretData(defaults, 'ringmaster-tokens', 'tokens.yaml'), 'tokens.yaml').size).toBe(0);
    // The pods restart when the chart's tokens change.
    const sum = (docs: K8sObject[]) => deployment(docs).d.spec.template.metadata.annotations?.['checksum/tokens'];
    expect(sum(defaults)).toMatch(/^[0-9a-f]{64}$/);
    expect(sum(allOn)).not.toBe(sum(defaults));
  });

  test('existing Secrets are referenced, not rendered', () => {
    const docs = renderChart({ signingKey: { existingSecret: 'my-key', existingSecretKey: 'ed25519.pem' }, tokens: { existingSecret: 'my-tokens' } });
    expect(docs.filter((d) => d.kind === 'Secret')).toEqual([]);
    const { pod } = deployment(docs);
    expect(pod.volumes).toContainEqual({ name: 'signing-key', secret: { secretName: 'my-key', defaultMode: 0o440, items: [{ key: 'ed25519.pem', path: 'signing.key' }] } });
    expect(pod.volumes).toContainEqual({ name: 'tokens', secret: { secretName: 'my-tokens', defaultMode: 0o440, items: [{ key: 'tokens.yaml', path: 'tokens.yaml' }] } });
    validateAll(docs);
  });
});

describe('monitoring', () => {
  test('the PrometheusRule carries the groups of files/ringmaster-alerts.yaml, and promtool accepts them', () => {
    const rule = one<{ spec: { groups: unknown[] } }>(allOn, 'PrometheusRule');
    const file = YAML.parse(fs.readFileSync(path.join(CHART_DIR, 'files/ringmaster-alerts.yaml'), 'utf8')) as { groups: unknown[] };
    expect(rule.spec.groups).toEqual(file.groups);
    const rendered = path.join(tmp, 'rendered-rules.yaml');
    fs.writeFileSync(rendered, YAML.stringify(rule.spec));
    const ok = spawnSync(PROMTOOL, ['check', 'rules', rendered], { encoding: 'utf8' });
    expect(`${ok.stdout}${ok.stderr}`).toMatch(/SUCCESS: 4 rules found/);
    expect(ok.status).toBe(0);
    // promtool can fail: the same spec with a broken expression.
    const broken = JSON.parse(JSON.stringify(rule.spec)) as { groups: Array<{ rules: Array<{ expr: string }> }> };
    (broken.groups[0]?.rules[0] as { expr: string }).expr = 'max by (rollout (';
    fs.writeFileSync(rendered, YAML.stringify(broken));
    expect(spawnSync(PROMTOOL, ['check', 'rules', rendered], { encoding: 'utf8' }).status).not.toBe(0);
  });

  test('the ServiceMonitor scrapes /metrics of the Service with job="ringmaster"', () => {
    const sm = one<{ spec: { jobLabel: string; selector: { matchLabels: Record<string, string> }; endpoints: Array<Record<string, unknown>> } }>(allOn, 'ServiceMonitor');
    const svc = one<{ spec: { selector: Record<string, string>; ports: unknown[] } }>(allOn, 'Service');
    expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(svc.metadata.labels?.[sm.spec.jobLabel]).toBe('ringmaster');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels?.[k]).toBe(v);
    expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }]);
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  });
});

describe('optional objects', () => {
  test('the NetworkPolicy: ingress to 8080 from the peers, egress to the API server, DNS, Prometheus, extra', () => {
    const np = one<{ spec: { podSelector: unknown; policyTypes: string[]; ingress: unknown[]; egress: Array<{ ports?: Array<{ port: number; protocol: string }>; to?: unknown[] }> } }>(allOn, 'NetworkPolicy');
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.podSelector).toEqual({ matchLabels: deployment(allOn).d.spec.selector.matchLabels });
    expect(np.spec.ingress).toEqual([
      {
        ports: [{ port: 8080, protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      },
    ]);
    const ports = np.spec.egress.map((e) => (e.ports ?? []).map((p) => `${p.port}/${p.protocol}`).join(','));
    expect(ports).toEqual(['443/TCP,6443/TCP', '53/UDP,53/TCP', '9090/TCP', '443/TCP']);
    expect(np.spec.egress[0]?.to).toEqual([{ ipBlock: { cidr: '10.0.0.1/32' } }, { ipBlock: { cidr: '172.20.0.10/32' } }]);
    // Without prometheusUrl there is no Prometheus rule; an https URL without a port means 443.
    const noProm = one<{ spec: { egress: unknown[] } }>(renderChart({ networkPolicy: { enabled: true } }), 'NetworkPolicy');
    expect(noProm.spec.egress).toHaveLength(2);
    const https = one<{ spec: { egress: Array<{ ports: Array<{ port: number }> }> } }>(renderChart({ networkPolicy: { enabled: true }, prometheusUrl: 'https://prom.example.com/prometheus' }), 'NetworkPolicy');
    expect(https.spec.egress[2]?.ports[0]?.port).toBe(443);
  });

  test('the PodDisruptionBudget, the Ingress and the audit claim', () => {
    const pdb = one<{ spec: { minAvailable: number; selector: unknown } }>(allOn, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: deployment(allOn).d.spec.selector.matchLabels } });
    const ing = one<{ spec: Record<string, unknown> }>(allOn, 'Ingress');
    expect(ing.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ secretName: 'ringmaster-tls', hosts: ['ringmaster.example.com'] }],
      rules: [{ host: 'ringmaster.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'ringmaster', port: { name: 'http' } } } }] } }],
    });
    const pvc = one<{ spec: Record<string, unknown> }>(allOn, 'PersistentVolumeClaim');
    expect(pvc.spec).toEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'efs-sc', resources: { requests: { storage: '2Gi' } } });
    expect(pvc.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });
});

describe('values.schema.json and the chart checks', () => {
  test('a typo is refused with the name of the value', () => {
    const r = runHelm(['template', 'ringmaster', CHART_DIR, '--set', 'replicaCont=3']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/additional properties 'replicaCont' not allowed/);
    expect(renderError({ image: { tg: '1.0' } })).toMatch(/at '\/image': additional properties 'tg' not allowed/);
  });

  test('a wrong type is refused with its path', () => {
    expect(renderError({ replicaCount: 'three' })).toMatch(/at '\/replicaCount': got string, want integer/);
    expect(renderError({ networkPolicy: { enabled: 'yes' } })).toMatch(/at '\/networkPolicy\/enabled': got string, want boolean/);
    expect(renderError({ leaderElection: { leaseDuration: '15 seconds' } })).toMatch(/\/leaderElection\/leaseDuration/);
  });

  test('a token pasted where its sha256 belongs is refused', () => {
    const msg = renderError({ tokens: { entries: [{ name: 'alice', role: 'deployer', sha256: 'ringmaster-example-deployer' }] } });
    expect(msg).toMatch(/\/tokens\/entries\/0\/sha256/);
    expect(renderError({ tokens: { entries: [{ name: 'alice', role: 'root', sha256: 'a'.repeat(64) }] } })).toMatch(/\/tokens\/entries\/0\/role/);
  });

  test('checks across values fail with one line naming the value', () => {
    expect(renderError({ audit: { persistence: { enabled: true } } })).toMatch(/audit\.persistence: replicaCount is 2 but accessModes \[ReadWriteOnce\] has no ReadWriteMany/);
    expect(renderError({ podDisruptionBudget: { enabled: true, minAvailable: 2 } })).toMatch(/podDisruptionBudget\.minAvailable \(2\) must be below replicaCount \(2\)/);
    const dup = { name: 'alice', role: 'viewer', sha256: 'a'.repeat(64) };
    expect(renderError({ tokens: { entries: [dup, { ...dup, sha256: 'b'.repeat(64) }] } })).toMatch(/tokens\.entries\[1\]\.name: duplicate name "alice" \(also tokens\.entries\[0\]\)/);
    expect(renderError({ tokens: { entries: [dup, { ...dup, name: 'bob', sha256: 'A'.repeat(64) }] } })).toMatch(/tokens\.entries\[1\]\.sha256: the same token as tokens\.entries\[0\]/);
  });

  test('every value of values.yaml has a comment, a schema entry and a README row', () => {
    const text = fs.readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8');
    const doc = YAML.parseDocument(text);
    const schema = JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as SchemaNode & { definitions: Record<string, SchemaNode> };
    const readme = fs.readFileSync(path.join(CHART_DIR, 'README.md'), 'utf8');
    const rows = new Set([...readme.matchAll(/^\| `([A-Za-z0-9_.]+)` \|/gm)].map((m) => m[1] as string));
    const leaves: string[] = [];
    const uncommented: string[] = [];
    const walk = (node: unknown, prefix: string, sch: SchemaNode | undefined, inheritedComment: boolean): void => {
      if (!YAML.isMap(node)) return;
      node.items.forEach((pair, i) => {
        const key = String((pair.key as YAML.Scalar).value);
        const p = prefix === '' ? key : `${prefix}.${key}`;
        const sub = resolve(schema, sch?.properties?.[key]);
        if (sub === undefined) throw new Error(`values.schema.json has no entry for ${p}`);
        const commented = Boolean((pair.key as YAML.Scalar).commentBefore) || (i === 0 && (Boolean(node.commentBefore) || inheritedComment)) || Boolean((pair.value as YAML.Node | null)?.comment);
        const isLeaf = !YAML.isMap(pair.value) || sub.properties === undefined;
        if (isLeaf) {
          leaves.push(p);
          if (!commented) uncommented.push(p);
        } else {
          walk(pair.value, p, sub, commented);
        }
      });
    };
    walk(doc.contents, '', schema, false);
    expect(leaves.length).toBeGreaterThan(60);
    expect(uncommented).toEqual([]);
    expect(leaves.filter((l) => !rows.has(l))).toEqual([]);
    expect([...rows].filter((r) => !leaves.includes(r))).toEqual([]);
  });
});

describe('NOTES.txt', () => {
  test('tells how to reach the API, get a token in, apply and wait for a rollout, and the kill switch', () => {
    const r = runHelm(['install', 'ringmaster', CHART_DIR, '--namespace', NS, '--dry-run=client']);
    expect(r.status).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kubectl -n ringmaster port-forward svc/ringmaster 8080:80');
    expect(notes).toContain('WARNING: no API token is configured');
    expect(notes).toContain('printf %s "$TOKEN" | sha256sum');
    expect(notes).toContain('kubectl apply -f examples/k8s/rollout.yaml');
    expect(notes).toContain('kubectl get rollouts -w');
    expect(notes).toContain('kubectl wait --for=condition=Succeeded rollout/<name>');
    expect(notes).toContain('ringctl kill --reason');
    expect(notes).toContain('ConfigMap ringmaster/ringmaster-killswitch');
  });
});

describe('the operator accepts the command line and the Secrets the chart renders', () => {
  // The real `ringmaster operator` (dist/) with the Deployment's args, the Secrets' files at temp paths with the
  // Secret volume's mode, and a kubeconfig that does not exist: it parses every flag, reads the key and the tokens,
  // and stops at the kubeconfig (exit 2), before it would contact a cluster.
  function runWithChartArgs(keyMode: number): { status: number | null; stderr: string } {
    const { c, pod } = deployment(allOn);
    const dir = fs.mkdtempSync(path.join(tmp, 'operator-'));
    const mode = pod.volumes.find((v) => v.name === 'signing-key')?.secret?.defaultMode;
    expect(mode).toBe(0o440);
    const files: Record<string, string> = {
      '/etc/ringmaster/signing/signing.key': secretData(allOn, 'ringmaster-signing-key', 'signing.key'),
      '/etc/ringmaster/tokens/tokens.yaml': secretData(allOn, 'ringmaster-tokens', 'tokens.yaml'),
    };
    const mapped = new Map<string, string>([['0.0.0.0:8080', '127.0.0.1:0'], ['/var/lib/ringmaster/audit-$(POD_NAME).db', path.join(dir, 'audit.db')]]);
    for (const [mountPath, content] of Object.entries(files)) {
      const local = path.join(dir, path.basename(mountPath));
      fs.writeFileSync(local, content);
      fs.chmodSync(local, mountPath.endsWith('.key') ? keyMode : (mode as number));
      mapped.set(mountPath, local);
    }
    for (const original of mapped.keys()) expect(c.args).toContain(original);
    const args = [...c.args.map((a) => mapped.get(a) ?? a), '--kubeconfig', path.join(dir, 'no-such-kubeconfig')];
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/ringmaster.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, POD_NAME: 'ringmaster-7d9f-abcde' } });
    return { status: r.status, stderr: r.stderr };
  }

  beforeAll(() => ensureBuilt(), 180_000);

  test('every flag is known and valid, the 0440 key and the tokens file load', () => {
    const r = runWithChartArgs(0o440);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^ringmaster operator: --kubeconfig: /)]);
    expect(r.status).toBe(2);
  });

  test('a world-readable key is refused (the check the 0440 mode passes)', () => {
    const r = runWithChartArgs(0o444);
    expect(r.stderr).toMatch(/--signing-key .*readable by others \(mode 444\)/);
    expect(r.status).toBe(2);
  });
});

describe('the image the chart runs (Dockerfile; no Docker engine here, so it is checked, not built)', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  test('the runtime stage: slim Node 20, non-root 10001 as in the pod securityContext, port 8080, node bin/ringmaster.js', () => {
    expect(runtime).toMatch(/^\nFROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime/);
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=20$/m);
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    expect(runtime).toMatch(/^EXPOSE 8080$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "bin\/ringmaster.js"\]$/m);
    const { pod, c } = deployment(defaults);
    expect(pod.securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001 });
    expect(c.args[0]).toBe('operator');
    expect((c as unknown as { command?: unknown }).command).toBeUndefined();
    for (const line of ['COPY --from=deps /app/node_modules ./node_modules', 'COPY --from=build /src/dist ./dist', 'COPY package.json ./', 'COPY bin ./bin', 'COPY policies ./policies']) {
      expect(runtime.split('\n')).toContain(line);
    }
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
  });

  test('every path copied from the build context exists and is not excluded by .dockerignore', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(/\s+/));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(fs.existsSync(path.join(ROOT, src))).toBe(true);
      expect(ignored.filter((pattern) => pattern === src || src.startsWith(`${pattern}/`))).toEqual([]);
    }
    for (const p of ['node_modules', 'dist', '.git', '.tools']) expect(ignored).toContain(p);
  });
});

describe('renderChartText', () => {
  test('reports helm\'s own error', () => {
    expect(() => renderChartText({ replicaCount: 0 })).toThrow(/^helm template failed \(exit 1\): Error: values don't meet the specifications/);
  });
});

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
}

function resolve(root: { definitions: Record<string, SchemaNode> }, node: SchemaNode | undefined): SchemaNode | undefined {
  if (node?.$ref === undefined) return node;
  const name = node.$ref.replace('#/definitions/', '');
  return root.definitions[name];
}
