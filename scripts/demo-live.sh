#!/usr/bin/env bash
# make demo-live: a real Prometheus, `ringmaster serve` and agent-sim in live mode on loopback, with the
# catastrophic update and bakes of seconds. It applies the rollout and runs `ringctl status --watch`.
# Ctrl-C stops everything. Ports (override with env): controller 18080, Prometheus 19090, agent metrics 19464.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROLLER_PORT=${CONTROLLER_PORT:-18080}
PROM_PORT=${PROM_PORT:-19090}
AGENT_PORT=${AGENT_PORT:-19464}
OUT=demo-out/live
PROMETHEUS=${PROMETHEUS_BIN:-/usr/bin/prometheus}
[ -x "$PROMETHEUS" ] || { echo "demo-live: $PROMETHEUS not found: run make prometheus" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "demo-live: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo-live: stopped (logs in $OUT/)"
}
trap cleanup INT TERM EXIT

cat > "$OUT/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$(pwd)/charts/ringmaster/files/ringmaster-alerts.yaml]
scrape_configs:
  - job_name: agents
    static_configs: [{targets: ["127.0.0.1:${AGENT_PORT}"]}]
  - job_name: ringmaster
    static_configs: [{targets: ["127.0.0.1:${CONTROLLER_PORT}"]}]
YAML
"$PROMETHEUS" --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus" \
  --web.listen-address=127.0.0.1:${PROM_PORT} --log.level=warn > "$OUT/prometheus.log" 2>&1 &
pids+=($!)
node bin/ringmaster.js serve --listen 127.0.0.1:${CONTROLLER_PORT} --data "$OUT/data" --tokens examples/tokens.yaml \
  --trusted-keys examples/trusted-keys.yaml --policies examples/live/policies --tick 500ms --rollback-drain 15s \
  --prometheus-url http://127.0.0.1:${PROM_PORT} --prometheus-min-window 3s > "$OUT/ringmaster.log" 2>&1 &
pids+=($!)
node bin/agent-sim.js --scenario examples/scenarios/live-bad-update.yaml --clock live \
  --controller http://127.0.0.1:${CONTROLLER_PORT} --metrics-listen 127.0.0.1:${AGENT_PORT} > "$OUT/agent-sim.log" 2>&1 &
AGENT_PID=$!
pids+=($AGENT_PID)

export RINGMASTER_URL=http://127.0.0.1:${CONTROLLER_PORT} RINGMASTER_TOKEN=ringmaster-example-deployer
for _ in $(seq 1 60); do curl -sf "$RINGMASTER_URL/readyz" >/dev/null && break; sleep 0.5; done
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:${PROM_PORT}/-/ready" >/dev/null && break; sleep 0.5; done
sleep 3   # a few scrapes of the fleet before the canary starts
echo "demo-live: controller $RINGMASTER_URL, Prometheus http://127.0.0.1:${PROM_PORT}, agent metrics http://127.0.0.1:${AGENT_PORT}/metrics"
node bin/ringctl.js apply -f examples/rollouts/live-content-update.yaml
echo "demo-live: watching (in another shell: RINGMASTER_URL=$RINGMASTER_URL npx ringctl status --watch sensor-content-7.16.291-live); Ctrl-C stops"
node bin/ringctl.js status --watch --interval 1s sensor-content-7.16.291-live || true
# The rollout is over: stop the fleet so that it prints what happened to it (took, outside the canary, bricked).
kill -TERM "$AGENT_PID" 2>/dev/null || true
wait "$AGENT_PID" 2>/dev/null || true
echo
grep -E '^(agent-sim live: stopped|.*manifest revision)' "$OUT/agent-sim.log" || tail -3 "$OUT/agent-sim.log"
