/**
 * The decisions chart: hosts exposed (median, with the p95 as a whisker) per strategy and scenario, on a log scale,
 * as a standalone SVG (no dependencies). One panel row per scenario, one bar per strategy.
 */
import type { Cell } from './compare';

const COLORS: Record<string, string> = {
  ringmaster: '#1f77b4',
  argo: '#ff7f0e',
  flagger: '#2ca02c',
  kayenta: '#d62728',
  'argo+ramp': '#ffbb78',
  'flagger+ramp': '#98df8a',
  'kayenta+ramp': '#ff9896',
  'bake-only': '#7f7f7f',
  'all-at-once': '#000000',
  oracle: '#9467bd',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(cells: Cell[]): string {
  const groups: Array<{ key: string; label: string; cells: Cell[] }> = [];
  for (const c of cells) {
    const key = `${c.scenario}@${c.hosts}`;
    let g = groups.find((x) => x.key === key);
    if (!g) groups.push((g = { key, label: `${c.label} (${c.runs} runs × ${c.hosts.toLocaleString('en-US')})`, cells: [] }));
    g.cells.push(c);
  }
  const strategies = [...new Set(cells.map((c) => c.strategy))];
  const maxV = Math.max(10, ...cells.map((c) => c.hostsExposedP95 ?? c.hostsExposedMedian ?? 1));
  const decades = Math.ceil(Math.log10(maxV));
  const left = 360;
  const plotW = 620;
  const barH = 9;
  const rowH = strategies.length * (barH + 2) + 22;
  const top = 60;
  const height = top + groups.length * rowH + 40;
  const width = left + plotW + 90;
  const x = (v: number): number => left + (Math.log10(Math.max(1, v)) / decades) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">Hosts that took the candidate before the stop (median, whisker p95; log scale)</text>`);
  strategies.forEach((s, i) => {
    const lx = 10 + (i % 5) * 190;
    const ly = 34 + Math.floor(i / 5) * 14;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="9" fill="${COLORS[s] ?? '#444'}"/><text x="${lx + 14}" y="${ly}">${esc(s)}</text>`);
  });
  for (let d = 0; d <= decades; d++) {
    const gx = x(10 ** d);
    out.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${height - 30}" stroke="#ddd"/><text x="${gx}" y="${height - 16}" text-anchor="middle">${(10 ** d).toLocaleString('en-US')}</text>`);
  }
  groups.forEach((g, gi) => {
    const y0 = top + gi * rowH;
    out.push(`<text x="10" y="${y0 + 14}" font-weight="bold">${esc(g.label)}</text>`);
    strategies.forEach((s, si) => {
      const c = g.cells.find((z) => z.strategy === s);
      const y = y0 + 18 + si * (barH + 2);
      out.push(`<text x="${left - 6}" y="${y + barH - 1}" text-anchor="end" fill="#555">${esc(s)}</text>`);
      if (!c || c.hostsExposedMedian === null) return;
      out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(c.hostsExposedMedian) - left)}" height="${barH}" fill="${COLORS[s] ?? '#444'}"><title>${esc(`${s}: median ${c.hostsExposedMedian}, p95 ${c.hostsExposedP95}`)}</title></rect>`);
      if (c.hostsExposedP95 !== null) out.push(`<line x1="${x(c.hostsExposedMedian)}" y1="${y + barH / 2}" x2="${x(c.hostsExposedP95)}" y2="${y + barH / 2}" stroke="#333"/><line x1="${x(c.hostsExposedP95)}" y1="${y}" x2="${x(c.hostsExposedP95)}" y2="${y + barH}" stroke="#333"/>`);
      out.push(`<text x="${Math.min(width - 30, x(c.hostsExposedP95 ?? c.hostsExposedMedian) + 4)}" y="${y + barH - 1}" fill="#333">${c.hostsExposedMedian.toLocaleString('en-US')}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
