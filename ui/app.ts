/**
 * The Ringmaster dashboard: plain TypeScript (no framework, no bundler), compiled by tsc into one ES module.
 * It reads the management API with the bearer token of this tab (sessionStorage, never a cookie) and follows
 * GET /v1/events with fetch() and a ReadableStream parser (EventSource cannot send an Authorization header).
 * Every value is put into the page with textContent or createElementNS: no innerHTML, nothing inline.
 */

interface Phase { kind: string; reason?: string }
interface Wave { index: number; sharePercent: number; targetHosts: number | null; ringHosts: number | null }
interface Verdict { at: string; result: string; reason: string }
interface View {
  name: string; channel: string; version: string; previousVersion: string | null; policy: string; phase: Phase; exposedRing: number;
  ring: { index: number; name: string } | null; waitingReason: string | null; wave: Wave | null; lastVerdict: Verdict | null;
  history: Array<{ n: number; at: string; to: string; exposedRing: number; reason: string; actor: string }>;
  spec?: { spec?: { rings: Array<{ name: string; percent?: number }> } };
}
interface Point { at: string; metric: string; candidateRate: number | null; baselineRate: number | null; statistic: number | null; boundary: number | null; candidateHosts: number | null }
interface Who { actor: string | null; role: string | null; permissions: string[] }

const TOKEN_KEY = 'ringmaster.token';
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return e as T;
};
const el = (tag: string, text?: string, cls?: string): HTMLElement => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let who: Who = { actor: null, role: null, permissions: [] };
let views: View[] = [];
let selected: string | null = null;
let refreshTimer: number | undefined;

class ApiFailure extends Error {}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${token}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  const res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    let rid = res.headers.get('X-Request-Id') ?? 'unknown';
    try {
      const body = (await res.json()) as { error?: { message?: string; requestId?: string } };
      if (body.error?.message) msg = body.error.message;
      if (body.error?.requestId) rid = body.error.requestId;
    } catch {
      /* not JSON: keep the status */
    }
    throw new ApiFailure(`${msg} (request id ${rid})`);
  }
  return (await res.json()) as T;
}

function showError(err: unknown): void {
  const box = $('error');
  box.hidden = false;
  // Only our own one-line messages: never a stack.
  box.textContent = err instanceof ApiFailure ? err.message : `dashboard error: ${err instanceof Error ? err.message : String(err)}`;
}
const clearError = (): void => {
  $('error').hidden = true;
};

const may = (p: string): boolean => who.permissions.includes(p);

// ------------------------------------------------------------------------------------------------ rendering

function phaseClass(kind: string): string {
  if (['halted', 'rolling-back', 'rolled-back', 'aborted'].includes(kind)) return 'badge bad';
  if (['paused', 'awaiting-approval', 'waiting-for-window', 'held', 'blocked'].includes(kind)) return 'badge warn';
  if (kind === 'succeeded') return 'badge ok';
  return 'badge';
}

function renderRollouts(): void {
  const body = $('rollouts').querySelector('tbody') as HTMLTableSectionElement;
  body.replaceChildren();
  for (const v of views) {
    const tr = document.createElement('tr');
    tr.dataset.rollout = v.name;
    if (v.name === selected) tr.className = 'selected';
    const nameCell = el('td');
    const open = el('button', v.name, 'link');
    open.setAttribute('type', 'button');
    open.addEventListener('click', () => select(v.name));
    nameCell.append(open);
    const phase = el('td');
    phase.append(el('span', v.phase.kind, `phase ${phaseClass(v.phase.kind)}`));
    phase.dataset.phase = v.phase.kind;
    tr.dataset.progress = `${v.phase.kind} ring ${v.exposedRing} wave ${v.wave?.index ?? '-'}`;
    tr.append(nameCell, el('td', v.channel), el('td', v.version), phase, el('td', v.ring ? `${v.ring.index} ${v.ring.name}` : v.exposedRing >= 0 ? `exposed 0..${v.exposedRing}` : '-'), el('td', v.wave ? `wave ${v.wave.index}: ${v.wave.sharePercent}%${v.wave.targetHosts === null ? '' : ` (${v.wave.targetHosts} hosts)`}` : '-'), el('td', v.waitingReason ?? ''));
    body.append(tr);
  }
  $('rollouts-section').hidden = false;
}

// promote ends the current ring's bake (never past a verdict that is not a pass); retry restarts a halted or aborted one.
const VERBS: Array<[string, string]> = [['approve', 'Approve'], ['promote', 'Promote'], ['pause', 'Pause'], ['resume', 'Resume'], ['retry', 'Retry'], ['abort', 'Abort'], ['rollback', 'Roll back']];

function renderActions(v: View): void {
  const box = $('actions');
  box.replaceChildren();
  for (const [verb, label] of VERBS) {
    if (!may(verb)) continue; // shown only to roles that may use it; the server checks anyway
    const b = el('button', label, verb === 'abort' || verb === 'rollback' ? 'danger' : '') as HTMLButtonElement;
    b.type = 'button';
    b.dataset.verb = verb;
    b.addEventListener('click', () => {
      void (async () => {
        try {
          clearError();
          await api(`/v1/rollouts/${encodeURIComponent(v.name)}/${verb}`, { method: 'POST', body: JSON.stringify({ reason: `${verb} from the dashboard` }) });
          await refresh();
        } catch (err) {
          showError(err);
        }
      })();
    });
    box.append(b);
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, val] of Object.entries(attrs)) e.setAttribute(k, String(val));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A line chart of series over time; y from 0 to the largest value. */
function chart(box: HTMLElement, series: Array<{ cls: string; label: string; pts: Array<[number, number]> }>, unit: string): void {
  box.replaceChildren();
  const all = series.flatMap((s) => s.pts);
  if (all.length === 0) {
    box.append(el('p', 'no evidence yet (the judge has not looked, or this rollout is not judged)'));
    return;
  }
  const W = 800, H = 220, L = 60, R = 150, T = 12, B = 28;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1000);
  const y1 = Math.max(...ys, 1e-9) * 1.1;
  const sx = (x: number): number => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number): number => H - B - (y / y1) * (H - T - B);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': series.map((s) => s.label).join(' vs ') });
  svg.append(svgEl('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }), svgEl('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  svg.append(svgEl('text', { x: 4, y: T + 8 }, `${fmt(y1)} ${unit}`), svgEl('text', { x: 4, y: H - B }, '0'));
  svg.append(svgEl('text', { x: L, y: H - 8 }, new Date(x0).toISOString().slice(11, 19)), svgEl('text', { x: W - R - 50, y: H - 8 }, new Date(x1).toISOString().slice(11, 19)));
  series.forEach((s, i) => {
    if (s.pts.length === 0) return;
    const d = s.pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    svg.append(svgEl('path', { d, class: s.cls }));
    const last = s.pts[s.pts.length - 1] as [number, number];
    svg.append(svgEl('line', { x1: W - R + 10, y1: T + 14 + i * 18, x2: W - R + 30, y2: T + 14 + i * 18, class: s.cls }));
    svg.append(svgEl('text', { x: W - R + 34, y: T + 18 + i * 18 }, `${s.label} ${fmt(last[1])}`));
  });
  box.append(svg);
}
const fmt = (n: number): string => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(2));

async function renderDetail(): Promise<void> {
  if (selected === null) {
    $('detail').hidden = true;
    return;
  }
  // The list carries no spec: the detail reads the whole view.
  const v = (await api<{ rollout: View }>(`/v1/rollouts/${encodeURIComponent(selected)}`)).rollout;
  $('detail').hidden = false;
  $('detail-title').textContent = `${v.name}: ${v.channel} ${v.previousVersion ?? '-'} -> ${v.version} (${v.phase.kind})`;
  renderActions(v);
  const rings = $('rings');
  rings.replaceChildren();
  (v.spec?.spec?.rings ?? []).forEach((r, i) => {
    const wave = v.wave && i === v.exposedRing ? `, wave ${v.wave.index}: ${v.wave.sharePercent}% of the ring${v.wave.targetHosts === null ? '' : `, ${v.wave.targetHosts} of ${v.wave.ringHosts ?? '?'} hosts`}` : '';
    const li = el('li', `${r.name}${r.percent === undefined ? '' : ` (${r.percent}%)`}: ${i <= v.exposedRing ? 'exposed' : 'not exposed'}${wave}`, i <= v.exposedRing ? 'exposed' : '');
    rings.append(li);
  });
  $('window').textContent = `policy ${v.policy}: ${v.waitingReason ?? 'not waiting (inside its window, or no wait applies)'}`;
  $('verdict').textContent = v.lastVerdict ? `${v.lastVerdict.result} at ${v.lastVerdict.at}: ${v.lastVerdict.reason}` : 'none yet';
  const hist = $('history').querySelector('tbody') as HTMLTableSectionElement;
  hist.replaceChildren(...v.history.slice(-15).reverse().map((t) => row([t.at, t.to, String(t.exposedRing), `${t.reason} (${t.actor})`])));
  try {
    const [ev, ch] = await Promise.all([api<{ points: Point[] }>(`/v1/rollouts/${encodeURIComponent(v.name)}/evidence`), api<{ channel: { stable: { version: string; since: string } | null; history: Array<{ at: string; version: string; event: string; rollout: string | null; reason: string }> } }>(`/v1/channels/${encodeURIComponent(v.channel)}`)]);
    // The metric with the most rate observations (a declared or built-in rate metric, not a signal).
    const counts = new Map<string, number>();
    for (const p of ev.points) counts.set(p.metric, (counts.get(p.metric) ?? 0) + (p.candidateRate !== null ? 2 : 0) + (p.statistic !== null ? 1 : 0));
    const metric = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    const pts = ev.points.filter((p) => p.metric === metric);
    const t = (p: Point): number => Date.parse(p.at);
    chart($('chart-rate'), [
      { cls: 'cand', label: 'candidate', pts: pts.filter((p) => p.candidateRate !== null).map((p) => [t(p), p.candidateRate as number]) },
      { cls: 'base', label: 'baseline', pts: pts.filter((p) => p.baselineRate !== null).map((p) => [t(p), p.baselineRate as number]) },
    ], `events/host-h${metric ? ` (${metric})` : ''}`);
    chart($('chart-stat'), [
      { cls: 'stat', label: 'ln e-process', pts: pts.filter((p) => p.statistic !== null).map((p) => [t(p), Math.max(0, p.statistic as number)]) },
      { cls: 'bound', label: 'boundary', pts: pts.filter((p) => p.boundary !== null).map((p) => [t(p), p.boundary as number]) },
    ], '');
    const s = ch.channel.stable;
    $('stable').textContent = s ? `stable version ${s.version} since ${s.since}` : 'no stable version yet';
    ($('lineage').querySelector('tbody') as HTMLTableSectionElement).replaceChildren(...ch.channel.history.slice(-10).reverse().map((h) => row([h.at, h.version, h.event, h.rollout ?? '-', h.reason])));
  } catch (err) {
    showError(err);
  }
}

function row(cells: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) tr.append(el('td', c));
  return tr;
}

async function renderAudit(): Promise<void> {
  const [list, verify] = await Promise.all([api<{ entries: Array<{ id: number; at: string; actor: string; action: string; target: string; reason: string }> }>('/v1/audit?limit=1000'), api<{ ok: boolean; entries: number; message?: string }>('/v1/audit/verify')]);
  const badge = $('verify');
  badge.textContent = verify.ok ? `chain verified (${verify.entries} entries)` : `chain BROKEN: ${verify.message ?? ''}`;
  badge.className = verify.ok ? 'badge ok' : 'badge bad';
  ($('audit').querySelector('tbody') as HTMLTableSectionElement).replaceChildren(...list.entries.slice(-12).reverse().map((e) => row([String(e.id), e.at, e.actor, e.action, e.target, e.reason])));
  $('audit-section').hidden = false;
}

function renderKill(ks: { engaged: boolean; mode: string; reason: string; actor: string }): void {
  const b = $('kill');
  b.textContent = ks.engaged ? `KILL SWITCH ENGAGED (${ks.mode}) by ${ks.actor}: ${ks.reason}` : 'kill switch released';
  b.className = ks.engaged ? 'badge bad' : 'badge ok';
  $('kill-engage').hidden = !may('killswitch') || ks.engaged;
  $('kill-release').hidden = !may('killswitch') || !ks.engaged;
}

async function refresh(): Promise<void> {
  const [list, ks] = await Promise.all([api<{ rollouts: View[] }>('/v1/rollouts'), api<{ engaged: boolean; mode: string; reason: string; actor: string }>('/v1/killswitch')]);
  views = list.rollouts;
  if (selected === null && views[0]) selected = views[0].name;
  renderRollouts();
  renderKill(ks);
  await Promise.all([renderDetail(), renderAudit()]);
}

/** Coalesces bursts of events into one refresh. */
function scheduleRefresh(): void {
  if (refreshTimer !== undefined) return;
  refreshTimer = window.setTimeout(() => {
    refreshTimer = undefined;
    refresh().catch(showError);
  }, 150);
}

function select(name: string): void {
  selected = name;
  renderRollouts();
  renderDetail().catch(showError);
}

// ------------------------------------------------------------------------------------------------ live updates

/** Reads GET /v1/events with the bearer header; reconnects with Last-Event-ID after a break. */
async function follow(): Promise<void> {
  let lastId: string | undefined;
  for (;;) {
    const live = $('live');
    try {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
      if (lastId !== undefined) headers['Last-Event-ID'] = lastId;
      const res = await fetch('/v1/events', { headers, credentials: 'omit', cache: 'no-store' });
      if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
      live.textContent = 'live';
      live.className = 'badge ok';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let type = 'message';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) lastId = line.slice(4);
            else if (line.startsWith('event: ')) type = line.slice(7);
          }
          if (type !== 'message') {
            document.body.dataset.lastEvent = type;
            scheduleRefresh();
          }
        }
      }
    } catch {
      /* reconnect below */
    }
    live.textContent = 'reconnecting';
    live.className = 'badge warn';
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ------------------------------------------------------------------------------------------------ kill switch, login

function openKill(engage: boolean): void {
  const d = $<HTMLDialogElement>('kill-dialog');
  $('kill-title').textContent = engage ? 'Engage the kill switch' : 'Release the kill switch';
  d.dataset.engage = String(engage);
  ($('kill-mode') as HTMLSelectElement).disabled = !engage;
  ($('kill-reason') as HTMLInputElement).value = '';
  ($('kill-confirm') as HTMLInputElement).checked = false;
  d.showModal();
}

function wire(): void {
  $('kill-engage').addEventListener('click', () => openKill(true));
  $('kill-release').addEventListener('click', () => openKill(false));
  $('kill-cancel').addEventListener('click', () => $<HTMLDialogElement>('kill-dialog').close());
  $('kill-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const d = $<HTMLDialogElement>('kill-dialog');
    const reason = ($('kill-reason') as HTMLInputElement).value.trim();
    if (reason === '' || !($('kill-confirm') as HTMLInputElement).checked) return;
    const engaged = d.dataset.engage === 'true';
    const mode = ($('kill-mode') as HTMLSelectElement).value;
    d.close();
    api('/v1/killswitch', { method: 'POST', body: JSON.stringify({ engaged, mode, reason }) })
      .then(() => refresh())
      .catch(showError);
  });
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    token = ($('token') as HTMLInputElement).value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    void boot();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
}

async function boot(): Promise<void> {
  if (token === '') {
    $('login').hidden = false;
    $('token').focus();
    return;
  }
  try {
    who = await api<Who>('/v1/whoami');
  } catch (err) {
    showError(err);
    $('login').hidden = false;
    return;
  }
  clearError();
  $('login').hidden = true;
  $('signout').hidden = false;
  $('who').textContent = `${who.actor ?? 'anonymous'} (${who.role ?? 'no token'})`;
  document.body.dataset.role = who.role ?? '';
  await refresh().catch(showError);
  document.body.dataset.ready = 'true';
  void follow();
}

wire();
void boot();
