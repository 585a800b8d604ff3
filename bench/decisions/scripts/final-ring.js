// The final ring's baseline, 20 seeds of healthy-noisy at 1M hosts: the share of the remaining hosts that moved in
// its first 60 s step, and the fewest hosts left on the previous version during its bake.
//   after:  for s in $(seq 1 20); do node bin/agent-sim.js --scenario examples/scenarios/healthy-noisy.yaml --clock virtual \
//             --seed $s --json --no-compare --timeline > /tmp/final/after-$s.json; done
//   before: for s in $(seq 1 20); do node bench/decisions/scripts/final-ring-before.js $s; done   (the tree at /tmp/before)
//   then:   node bench/decisions/scripts/final-ring.js
const fs = require('fs');
for (const label of ['before', 'after']) {
  const rows = [];
  for (let s = 1; s <= 20; s++) {
    const f = `/tmp/final/${label}-${s}.json`;
    if (!fs.existsSync(f) || fs.statSync(f).size === 0) continue;
    const r = JSON.parse(fs.readFileSync(f, 'utf8'));
    const tl = r.timeline;
    const i0 = tl.findIndex((p) => p.ring === 3);
    if (i0 < 0) continue;
    const t0 = tl[i0].t;
    const n = r.hosts;
    const before = (tl[i0 - 1] ?? tl[i0]).onCandidate;
    const first = (tl[i0].onCandidate - before) / (n - before); // share of the hosts not yet updated that moved in the ring's first step
    // During the final ring (until succeeded), the fewest hosts on the baseline after it is wholly exposed + the longest time with > 1% baseline
    const fin = tl.slice(i0).filter((p) => p.phase !== 'succeeded');
    const minBase = Math.min(...fin.filter((p) => p.t >= t0 + 3_600_000).map((p) => n - p.onCandidate - p.bricked));
    const gone = fin.find((p) => n - p.onCandidate - p.bricked < 0.001 * n);
    rows.push({ first, minBase, goneMin: gone ? (gone.t - t0) / 60000 : null, hoursToFull: r.virtualDurationHours });
  }
  const med = (a) => { const b = a.filter((x) => x !== null).sort((x, y) => x - y); return b.length ? b[Math.floor((b.length - 1) / 2)] : null; };
  const mm = (a) => `${med(a)} (${Math.min(...a)}–${Math.max(...a)})`;
  console.log(label, rows.length, 'runs; share of the remaining hosts that moved in the final ring\'s first 60 s step:', mm(rows.map((x) => +(100 * x.first).toFixed(2))) + '%',
    '; fewest baseline hosts during the final bake (from 1 h in):', mm(rows.map((x) => x.minBase)),
    '; baseline under 0.1% of the fleet after (min; null: never):', JSON.stringify(rows.map((x) => x.goneMin)));
}
