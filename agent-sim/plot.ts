/**
 * A small SVG of a run: hosts that took the candidate and cumulative candidate crashes/BSODs over virtual time, on
 * one axis when their scales are alike (so a catastrophe's two lines read as what they are: nearly every host that
 * took it crashed), else on two; the halt and the oracle's halt are marked, and each line ends with its value.
 * Hand-written SVG, no dependency.
 */
import type { RunResult } from './virtual';

export function plotSvg(r: RunResult, title: string): string {
  const W = 760;
  const H = 360;
  const L = 70;
  const R = 70;
  const T = 40;
  const B = 50;
  const zero = { t: 0, onCandidate: 0, took: 0, candidateCrashes: 0, bricked: 0, ring: -1 };
  const pts = [zero, ...r.timeline];
  const tMax = Math.max(1, pts[pts.length - 1]?.t ?? 1);
  const tookMax = Math.max(1, ...pts.map((p) => p.took));
  const eventsMax = Math.max(1, ...pts.map((p) => p.candidateCrashes));
  // One axis when the two maxima are within 4x of each other; two otherwise (a healthy run: a million hosts, a few
  // thousand crashes).
  const shared = Math.max(tookMax, eventsMax) <= 4 * Math.min(tookMax, eventsMax);
  const hostMax = shared ? Math.max(tookMax, eventsMax) : tookMax;
  const crashMax = shared ? hostMax : eventsMax;
  const x = (t: number): number => L + ((W - L - R) * t) / tMax;
  const yH = (v: number): number => H - B - ((H - T - B) * v) / hostMax;
  const yC = (v: number): number => H - B - ((H - T - B) * v) / crashMax;
  const step = Math.max(1, Math.floor(pts.length / 600));
  const sampled = pts.filter((_, i) => i % step === 0 || i === pts.length - 1);
  const line = (y: (v: number) => number, get: (p: (typeof pts)[number]) => number): string =>
    sampled.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(get(p)).toFixed(1)}`).join(' ');
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const hours = tMax / 3_600_000;
  const ticks: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const t = (tMax * i) / 4;
    const label = hours < 2 ? `${Math.round((hours * 60 * i) / 4)}m` : `${((hours * i) / 4).toFixed(hours < 8 ? 1 : 0)}h`;
    ticks.push(`<text x="${x(t).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${label}</text>`);
  }
  let halt = '';
  const ht = haltOffset(r);
  if (ht !== null && ht >= 0) {
    halt = `<line x1="${x(ht).toFixed(1)}" x2="${x(ht).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#c00" stroke-dasharray="4 3"/>` +
      `<text x="${(x(ht) + 4).toFixed(1)}" y="${T + 48}" fill="#c00">halt (${esc(r.haltReason ?? r.outcome)})</text>`;
  }
  let oracle = '';
  if (r.oracle) {
    const ot = Date.parse(r.oracle.haltAt) - Date.parse(r.startedAt);
    if (ot >= 0 && ot <= tMax) {
      oracle = `<line x1="${x(ot).toFixed(1)}" x2="${x(ot).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#2ca02c" stroke-dasharray="1 3"/>` +
        `<text x="${(x(ot) + 4).toFixed(1)}" y="${H - B - 30}" fill="#2ca02c">oracle's halt: ${r.oracle.hostsUpdated.toLocaleString('en-US')} had taken it</text>`;
    }
  }
  const last = pts[pts.length - 1] ?? zero;
  const tookY = yH(last.took);
  const eventsY = yC(last.candidateCrashes);
  // End labels, kept apart when the lines end close together.
  const gap = Math.abs(tookY - eventsY) < 14 ? 14 - Math.abs(tookY - eventsY) : 0;
  const ends =
    `<text x="${(x(last.t) - 4).toFixed(1)}" y="${(tookY - 4 - (tookY <= eventsY ? gap : 0)).toFixed(1)}" text-anchor="end" fill="#1f77b4">${last.took.toLocaleString('en-US')} took the update</text>` +
    `<text x="${(x(last.t) - 4).toFixed(1)}" y="${(eventsY + 14 + (eventsY > tookY ? gap : 0)).toFixed(1)}" text-anchor="end" fill="#d62728">${last.candidateCrashes.toLocaleString('en-US')} crashes + BSODs</text>`;
  const axisNote = shared ? 'one axis: hosts and events' : 'hosts (left axis), events (right axis)';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#1f77b4"/>`,
    `<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="#d62728"/>`,
    `<text x="${L - 6}" y="${T + 4}" text-anchor="end" fill="#1f77b4">${hostMax.toLocaleString('en-US')}</text>`,
    `<text x="${L - 6}" y="${H - B}" text-anchor="end" fill="#1f77b4">0</text>`,
    `<text x="${W - R + 6}" y="${T + 4}" fill="#d62728">${crashMax.toLocaleString('en-US')}</text>`,
    `<text x="${W - R + 6}" y="${H - B}" fill="#d62728">0</text>`,
    ...ticks,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">virtual time since the rollout was applied</text>`,
    `<path d="${line(yH, (p) => p.took)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    `<path d="${line(yH, (p) => p.onCandidate)}" fill="none" stroke="#1f77b4" stroke-width="1" stroke-dasharray="3 2"/>`,
    `<path d="${line(yC, (p) => p.candidateCrashes)}" fill="none" stroke="#d62728" stroke-width="2"/>`,
    halt,
    oracle,
    ends,
    `<text x="${L + 190}" y="${T + 150}" fill="#1f77b4">— hosts that took the update; dashed: running it and reporting</text>`,
    `<text x="${L + 190}" y="${T + 168}" fill="#d62728">— crashes + BSODs on the candidate, cumulative</text>`,
    `<text x="${L + 190}" y="${T + 186}" fill="#555">${axisNote}; dotted green: the oracle's halt</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** The halt as an offset from the start of the run (the timeline's origin). */
function haltOffset(r: RunResult): number | null {
  if (r.haltAt === null) return null;
  return Date.parse(r.haltAt) - Date.parse(r.startedAt);
}
