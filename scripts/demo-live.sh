#!/usr/bin/env bash
# make demo-live: a real Prometheus, `ringmaster serve --prometheus-url` and two simulated fleets (agent-sim
# --clock live) on loopback, in real time, with bakes of seconds. Two parts, about 4 minutes in all:
#   1. a healthy update (channel sensor-content-eu): canary, 1%, then it waits for an approval; the script approves
#      it as example-approver (and says so), and it reaches 100% and succeeds;
#   2. the catastrophic update (channel sensor-content, 95% of hosts crash on boot): halted in the canary ring and
#      rolled back, nobody outside the canary takes it.
# Ctrl-C stops everything. Ports (override with env): controller 18080, Prometheus 19090, agent metrics 19464 and
# 19465. DEMO_PART=2 skips the first part.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROLLER_PORT=${CONTROLLER_PORT:-18080}
PROM_PORT=${PROM_PORT:-19090}
AGENT_PORT=${AGENT_PORT:-19464}
HEALTHY_AGENT_PORT=${HEALTHY_AGENT_PORT:-19465}
DEMO_PART=${DEMO_PART:-1}
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
say() { echo "demo-live: $*"; }

cat > "$OUT/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$(pwd)/charts/ringmaster/files/ringmaster-alerts.yaml]
scrape_configs:
  - job_name: agents
    static_configs: [{targets: ["127.0.0.1:${AGENT_PORT}", "127.0.0.1:${HEALTHY_AGENT_PORT}"]}]
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
if [ "$DEMO_PART" = 1 ]; then
  node bin/agent-sim.js --scenario examples/scenarios/live-healthy-update.yaml --clock live \
    --controller http://127.0.0.1:${CONTROLLER_PORT} --metrics-listen 127.0.0.1:${HEALTHY_AGENT_PORT} > "$OUT/agent-sim-healthy.log" 2>&1 &
  HEALTHY_PID=$!
  pids+=($HEALTHY_PID)
fi

export RINGMASTER_URL=http://127.0.0.1:${CONTROLLER_PORT} RINGMASTER_TOKEN=ringmaster-example-deployer
for _ in $(seq 1 60); do curl -sf "$RINGMASTER_URL/readyz" >/dev/null && break; sleep 0.5; done
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:${PROM_PORT}/-/ready" >/dev/null && break; sleep 0.5; done
sleep 3   # a few scrapes of the fleets before the canary starts
say "controller $RINGMASTER_URL, Prometheus http://127.0.0.1:${PROM_PORT} (real), simulated fleets' metrics on :${AGENT_PORT} and :${HEALTHY_AGENT_PORT}; logs in $OUT/; Ctrl-C stops"

# Prints each change of a rollout's phase and ring until it reaches one of the phases given.
wait_for() {
  local name=$1; shift
  local last='' line phase
  while :; do
    line=$(node bin/ringctl.js get 2>/dev/null | awk -v n="$name" '$1 == n {print $4, $5}' || true)
    phase=${line%% *}
    [ "$line" != "$last" ] && say "  $(date -u +%H:%M:%S) $name: phase $phase, ring ${line#* }"
    last=$line
    for want in "$@"; do [ "$phase" = "$want" ] && return 0; done
    sleep 2
  done
}

if [ "$DEMO_PART" = 1 ]; then
  HEALTHY=sensor-content-eu-7.16.291-live
  echo
  say "part 1 of 2: a healthy update, canary -> 1% -> (approval) -> 100%, judged from Prometheus"
  node bin/ringctl.js apply -f examples/rollouts/live-healthy-update.yaml
  wait_for "$HEALTHY" awaiting-approval halted rolling-back rolled-back aborted
  if node bin/ringctl.js get | awk -v n="$HEALTHY" '$1 == n {print $4}' | grep -qx awaiting-approval; then
    say "the ring 'full' needs a human: approving it as example-approver:"
    say "  RINGMASTER_TOKEN=ringmaster-example-approver ringctl approve $HEALTHY --reason \"canary and 1% looked fine\""
    RINGMASTER_TOKEN=ringmaster-example-approver node bin/ringctl.js approve "$HEALTHY" --reason "canary and 1% looked fine"
    say "watching it reach 100% (ringctl status --watch $HEALTHY)"
    node bin/ringctl.js status --watch --interval 1s "$HEALTHY" || true
  else
    say "the healthy update did not reach the approval step: see ringctl status $HEALTHY and $OUT/ringmaster.log"
  fi
  kill -TERM "$HEALTHY_PID" 2>/dev/null || true
  wait "$HEALTHY_PID" 2>/dev/null || true
  grep -E '^agent-sim live: stopped' "$OUT/agent-sim-healthy.log" || true
  echo
fi

say "part 2 of 2: the catastrophic update (95% of hosts crash on boot), judged from Prometheus"
node bin/ringctl.js apply -f examples/rollouts/live-content-update.yaml
say "watching (in another shell: RINGMASTER_URL=$RINGMASTER_URL npx ringctl status --watch sensor-content-7.16.291-live); Ctrl-C stops"
node bin/ringctl.js status --watch --interval 1s sensor-content-7.16.291-live || true
# The rollout is over: stop the fleet so that it prints what happened to it (took, outside the canary, bricked).
kill -TERM "$AGENT_PID" 2>/dev/null || true
wait "$AGENT_PID" 2>/dev/null || true
echo
grep -E '^(agent-sim live: stopped|.*manifest revision)' "$OUT/agent-sim.log" || tail -3 "$OUT/agent-sim.log"
