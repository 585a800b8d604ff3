/** GET /metrics: the controller's own metrics, labelled by route pattern and low-cardinality reasons. */
import { Telemetry } from '../../controller/telemetry/metrics';
import { startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml } from '../helpers/api-fixtures';
import { FakeService } from '../helpers/fake-service';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Telemetry', () => {
  test('records what the runtime reports', async () => {
    const t = new Telemetry({ defaultMetrics: false });
    t.rolloutPhase('r1', 'ch', 'progressing', 1);
    t.rolloutPhase('r1', 'ch', 'halted', 1);
    t.transition('halted');
    t.transition('halted');
    t.reconcileDuration(0.004);
    t.verdict('r1', 'bsod', 'fail');
    t.verdictLatency(1800);
    t.killSwitch(true);
    t.noDataSeconds('r1', 'ch', 1, 90);
    const text = await t.metrics();
    expect(sample(text, 'ringmaster_rollout_phase{rollout="r1",channel="ch",phase="halted"}')).toBe(1);
    expect(sample(text, 'ringmaster_rollout_phase{rollout="r1",channel="ch",phase="progressing"}')).toBe(0);
    expect(sample(text, 'ringmaster_rollout_ring{rollout="r1",channel="ch"}')).toBe(1);
    expect(sample(text, 'ringmaster_transitions_total{reason="halted"}')).toBe(2);
    expect(sample(text, 'ringmaster_reconcile_duration_seconds_count')).toBe(1);
    expect(sample(text, 'ringmaster_analysis_verdicts_total{rollout="r1",metric="bsod",result="fail"}')).toBe(1);
    expect(sample(text, 'ringmaster_verdict_latency_seconds_bucket{le="1800"}')).toBe(1);
    expect(sample(text, 'ringmaster_killswitch_engaged')).toBe(1);
    expect(sample(text, 'ringmaster_analysis_no_data_seconds{rollout="r1",channel="ch",ring="1"}')).toBe(90);
  });

  test('includes the default process metrics unless told not to', async () => {
    expect(await new Telemetry().metrics()).toContain('process_cpu_user_seconds_total');
    expect(await new Telemetry({ defaultMetrics: false }).metrics()).not.toContain('process_cpu_user_seconds_total');
  });
});

describe('GET /metrics', () => {
  let service: FakeService;
  let api: Api;
  beforeAll(async () => {
    service = new FakeService();
    service.publishRaw('m-ch', { candidates: [] });
    api = await startApi(service);
  });
  afterAll(() => api.close());

  test('counts requests by route pattern and code, never by raw URL', async () => {
    const auth = { Authorization: `Bearer ${api.tokens.deployer}` };
    const created = await fetch(`${api.url}/v1/rollouts`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/yaml' }, body: rolloutYaml('metric-me', 'm-ch2') });
    expect(created.status).toBe(201);
    await fetch(`${api.url}/v1/rollouts/metric-me/pause`, { method: 'POST', headers: auth });
    await fetch(`${api.url}/v1/rollouts/metric-me`, { headers: auth });
    await fetch(`${api.url}/v1/rollouts/secret-looking-name`, { headers: auth });
    await fetch(`${api.url}/no/such/path/abc123`);
    await fetch(`${api.url}/v1/channels/m-ch/manifest`);
    await fetch(`${api.url}/v1/channels/m-ch/manifest`);
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'ringmaster_http_requests_total{route="/v1/rollouts",code="201"}')).toBe(1);
    expect(sample(text, 'ringmaster_http_requests_total{route="/v1/rollouts/:name/:verb",code="200"}')).toBe(1);
    expect(sample(text, 'ringmaster_http_requests_total{route="/v1/rollouts/:name",code="200"}')).toBe(1);
    expect(sample(text, 'ringmaster_http_requests_total{route="/v1/rollouts/:name",code="404"}')).toBe(1);
    expect(sample(text, 'ringmaster_http_requests_total{route="unmatched",code="404"}')).toBe(1);
    expect(sample(text, 'ringmaster_http_requests_total{route="/v1/channels/:channel/manifest",code="200"}')).toBe(2);
    expect(text).not.toContain('secret-looking-name');
    expect(text).not.toContain('abc123');
    // The gauges are refreshed from the service at scrape time (also right after a restart).
    expect(sample(text, 'ringmaster_rollout_phase{rollout="metric-me",channel="m-ch2",phase="paused"}')).toBe(1);
    expect(sample(text, 'ringmaster_killswitch_engaged')).toBe(0);
  });
});
