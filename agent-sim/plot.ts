/**
 * The SVG of a virtual run (agent-sim --plot): hosts that took the candidate and hosts bricked over virtual time,
 * for Ringmaster's run and, beside it, the same scenario and seed all at once, on ONE logarithmic axis (a million
 * hosts and a few dozen read on the same scale). Vertical markers at the halt and at rolled-back, each at its own
 * time; the legend sits in its own column, off the data. Hand-written SVG, no dependency.
 */
import type { AllAtOnceResult, RunResult } from './virtual';

const BLUE = '#1f77b4';
const RED = '#d62728';
const GREY = '#666';

interface Series {
  points: Array<{ t: number; v: number }>;
  color: string;
  dash: string | null;
  width: number;
}

/** Minutes per x tick: the first step that gives at most 10 ticks. */
const STEPS_MIN = [1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];

export function timeLabel(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m === 0) return '0';
  if (m < 60) return `${m}m`;
  if (m < 2880) return m % 60 === 0 ? `${m / 60}h` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}`;
  return `${Math.round(m / 1440)}d`;
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** When the all-at-once run has settled: its counts reach 99% of their final values. */
function settledAt(all: AllAtOnceResult): number {
  const last = all.timeline[all.timeline.length - 1];
  if (last === undefined) return 0;
  const p = all.timeline.find((x) => x.took >= 0.99 * last.took && x.bricked >= 0.99 * last.bricked);
  return (p ?? last).t;
}

export function plotSvg(r: RunResult, title: string, all?: AllAtOnceResult): string {
  const W = 1000;
  const H = 480;
  const L = 90;
  const R = 300;
  const T = 84;
  const B = 56;
  const plotW = W - L - R;
  const runEnd = Math.max(60_000, r.timeline[r.timeline.length - 1]?.t ?? 60_000);
  const tMax = Math.max(runEnd, all ? 1.15 * settledAt(all) : 0);
  const x = (t: number): number => L + (plotW * Math.min(t, tMax)) / tMax;

  // One log axis: 0 on its own band at the bottom, then decades from 1 to the fleet's size.
  const decades = Math.max(1, Math.ceil(Math.log10(Math.max(10, r.hosts))));
  const zeroBand = 18;
  const bottom = H - B;
  const y = (v: number): number => (v < 1 ? bottom : bottom - zeroBand - ((bottom - zeroBand - T) * Math.log10(v)) / decades);

  // Series: Ringmaster's (solid; flat after the run ends, nothing changes then), all at once (dashed).
  const zero = { t: 0, took: 0, bricked: 0 };
  const ours = [zero, ...r.timeline.map((p) => ({ t: p.t, took: p.took, bricked: p.bricked }))];
  const lastOurs = ours[ours.length - 1] ?? zero;
  if (lastOurs.t < tMax) ours.push({ ...lastOurs, t: tMax });
  const theirs = all ? [zero, ...all.timeline.filter((p) => p.t <= tMax)] : [];
  const lastTheirs = theirs[theirs.length - 1];
  if (lastTheirs !== undefined && lastTheirs.t < tMax) theirs.push({ ...lastTheirs, t: tMax });
  const series: Series[] = [
    ...(all
      ? [
          { points: theirs.map((p) => ({ t: p.t, v: p.took })), color: BLUE, dash: '7 4', width: 1.5 },
          { points: theirs.map((p) => ({ t: p.t, v: p.bricked })), color: RED, dash: '7 4', width: 1.5 },
        ]
      : []),
    { points: ours.map((p) => ({ t: p.t, v: p.took })), color: BLUE, dash: null, width: 5 },
    { points: ours.map((p) => ({ t: p.t, v: p.bricked })), color: RED, dash: null, width: 2.5 },
  ];
  const path = (s: Series): string => {
    const step = Math.max(1, Math.floor(s.points.length / 800));
    const pts = s.points.filter((_, i) => i % step === 0 || i === s.points.length - 1);
    // Steps, not slopes: a count holds its value until the next point.
    const d = pts.map((p, i) => (i === 0 ? `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}` : `H${x(p.t).toFixed(1)} V${y(p.v).toFixed(1)}`)).join(' ');
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
  };

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${L}" y="42" fill="${GREY}">hosts, log scale, over virtual time since the rollout was applied${all ? ': Ringmaster (solid) and the same update all at once (dashed)' : ''}</text>`);

  // y grid and ticks
  out.push(`<line x1="${L}" x2="${L + plotW}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text x="${L - 8}" y="${bottom + 4}" text-anchor="end">0</text>`);
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d);
    out.push(`<line x1="${L}" x2="${L + plotW}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${L - 8}" y="${(yy + 4).toFixed(1)}" text-anchor="end">${fmt(10 ** d)}</text>`);
  }
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text transform="translate(20 ${(T + bottom) / 2}) rotate(-90)" text-anchor="middle">hosts (log scale)</text>`);

  // x ticks
  const stepMin = STEPS_MIN.find((s) => tMax / (s * 60_000) <= 10) ?? (STEPS_MIN[STEPS_MIN.length - 1] as number);
  for (let t = 0; t <= tMax + 1; t += stepMin * 60_000) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${bottom}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${bottom + 19}" text-anchor="middle">${timeLabel(t)}</text>`);
  }
  out.push(`<text x="${L + plotW / 2}" y="${H - 12}" text-anchor="middle">virtual time since the apply (T+)</text>`);

  // Markers: the halt and the rolled-back, each at its own time; labels staggered when close.
  const start = Date.parse(r.startedAt);
  const markers: Array<{ t: number; label: string; color: string }> = [];
  if (r.haltAt !== null) markers.push({ t: Date.parse(r.haltAt) - start, label: `halt (candidate withdrawn) T+${timeLabel(Date.parse(r.haltAt) - start)}`, color: RED });
  const rolledBack = r.transitions.find((tr) => tr.to === 'rolled-back');
  if (rolledBack) markers.push({ t: Date.parse(rolledBack.at) - start, label: `rolled back T+${timeLabel(Date.parse(rolledBack.at) - start)}`, color: GREY });
  const succeeded = r.transitions.find((tr) => tr.to === 'succeeded');
  if (succeeded) markers.push({ t: Date.parse(succeeded.at) - start, label: `succeeded T+${timeLabel(Date.parse(succeeded.at) - start)}`, color: '#2ca02c' });
  // Labels above the plot area (off the data), staggered.
  markers.forEach((m, i) => {
    const mx = x(m.t);
    const ly = T - 8 - 15 * (markers.length - 1 - i);
    out.push(`<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${ly + 4}" y2="${bottom}" stroke="${m.color}" stroke-dasharray="3 3"/>`);
    const right = mx + 6 + m.label.length * 6.5 < L + plotW;
    out.push(`<text x="${(right ? mx + 5 : mx - 5).toFixed(1)}" y="${ly}" fill="${m.color}"${right ? '' : ' text-anchor="end"'}>${esc(m.label)}</text>`);
  });

  for (const s of series) out.push(path(s));

  // Legend, in its own column right of the plot.
  const lx = L + plotW + 24;
  let ly = T + 6;
  const entry = (color: string, dash: string | null, width: number, text: string, value: string): void => {
    out.push(`<line x1="${lx}" x2="${lx + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 38}" y="${ly}">${esc(text)}</text>`);
    out.push(`<text x="${lx + 38}" y="${ly + 15}" font-weight="bold" fill="${color}">${esc(value)}</text>`);
    ly += 38;
  };
  const heading = (text: string): void => {
    out.push(`<text x="${lx}" y="${ly}" font-weight="bold">${esc(text)}</text>`);
    ly += 20;
  };
  heading('with rings (Ringmaster)');
  entry(BLUE, null, 5, 'hosts that took the update', fmt(r.hostsUpdated));
  entry(RED, null, 2.5, 'hosts bricked (boot loop)', fmt(r.hostsBricked));
  if (all) {
    heading('all at once (same fleet, same seed)');
    entry(BLUE, '7 4', 1.5, 'hosts that took the update', fmt(all.hostsUpdated));
    entry(RED, '7 4', 1.5, 'hosts bricked (boot loop)', fmt(all.hostsBricked));
  }
  ly += 4;
  for (const line of [
    'bricked: crashes on boot and cannot',
    'fetch a fix; needs hands-on repair.',
    'Counts are cumulative; each line stays',
    'flat after its run ends.',
  ]) {
    out.push(`<text x="${lx}" y="${ly}" fill="${GREY}">${esc(line)}</text>`);
    ly += 16;
  }
  out.push('</svg>', '');
  return out.join('\n');
}
