// Plays healthy-noisy on the before tree (e2d79b5) in process, to read its timeline (its CLI's --json has none).
const path = require('path');
const tree = '/tmp/before';
process.chdir(tree);
const { loadScenario } = require(path.join(tree, 'dist/agent-sim/scenario.js'));
const { runVirtual } = require(path.join(tree, 'dist/agent-sim/virtual.js'));
const fs = require('fs');
(async () => {
  const seed = Number(process.argv[2]);
  const sc = loadScenario('examples/scenarios/healthy-noisy.yaml', { seed });
  const r = await runVirtual(sc);
  fs.writeFileSync(`/tmp/final/before-${seed}.json`, JSON.stringify({ hosts: r.hosts, virtualDurationHours: r.virtualDurationHours, timeline: r.timeline }));
})();
