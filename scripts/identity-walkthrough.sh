#!/usr/bin/env bash
# The by-hand acceptance run of issue 16 (docs/security-walkthrough.md), as a new user would do it: the test
# identity provider, ringmaster serve with it as OIDC issuer, ringctl login (device flow), apply, an approval by the
# same subject refused and by another accepted, then the provider stopped and the kill switch engaged with a
# break-glass credential. Prints each command, then its output.
#
#   scripts/identity-walkthrough.sh [WORKDIR]      (default: a new temporary directory; needs `make build` first)
#
# Uses the loopback ports 9555 (provider), 8088 (controller) and 9666 (a webhook receiver).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d -t rm-identity-XXXXXX)}
mkdir -p "$WORK/policies"
export XDG_CONFIG_HOME=$WORK/xdg      # ringctl's login cache goes here instead of ~/.config
ringctl() { node "$REPO/bin/ringctl.js" "$@"; }
ringmaster() { node "$REPO/bin/ringmaster.js" "$@"; }
run() { echo "\$ $1"; eval "$1"; echo; }
cd "$WORK"
cat > policies/two-person.yaml <<'DOC'
apiVersion: ringmaster.dev/v1alpha1
kind: Policy
metadata:
  name: two-person
spec:
  timezone: UTC
  allow:
    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
      hours: "00:00-24:00"
  requireSignedArtifacts: false
  approvals:
    distinctFrom: applier     # who applied a rollout may not approve it
DOC
cat > rollout.yaml <<'DOC'
apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: sensor-content-7.16.291
spec:
  channel: sensor-content
  version: 7.16.291
  previousVersion: 7.16.290
  artifact:
    url: https://updates.example.internal/sensor-content/7.16.291.bin
    sha256: 9f2c1a0b9f2c1a0b9f2c1a0b9f2c1a0b9f2c1a0b9f2c1a0b9f2c1a0b9f2c1a0b
  policy: two-person
  rings:
    - name: canary
      selector: { matchLabels: { ring: canary } }
      bake: 30m
      approval: required
    - name: full
      percent: 100
      bake: 1h
DOC
echo "# in $WORK"

echo "## 1. The test identity provider (documented script), on loopback"
run "$REPO/scripts/test-idp.sh --port 9555 > idp.log 2>&1 & echo \$! > idp.pid; sleep 6; cat idp.log"

echo "## 1b. A webhook receiver standing in for the SRE team's pager (prints each notification it gets)"
run "(exec node -e \"require('http').createServer((q,s)=>{let b='';q.on('data',c=>b+=c);q.on('end',()=>{const e=JSON.parse(b);console.log(e.type,e.severity,e.actor,'|',e.reason);s.end()})}).listen(9666,'127.0.0.1')\" > hook.log 2>&1) & echo \$! > hook.pid; echo hook-secret > hook.secret"

echo "## 2. A break-glass secret for the SRE team's safe: only its sha256 goes into the config"
run "node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\" > breakglass.secret; chmod 600 breakglass.secret"
run "printf %s \"\$(cat breakglass.secret)\" | sha256sum | cut -d' ' -f1 > breakglass.sha256"
cat > serve.yaml <<CFG
listen: 127.0.0.1:8088
data: ./data
policies: ./policies
tick: 1s
oidc:
  issuer: http://127.0.0.1:9555
  audience: ringmaster
  clientId: ringctl
  rolesClaim: groups
  roles:
    rm-deployers: deployer
    rm-approvers: approver
    rm-sre: sre
breakGlass:
  - name: sre-safe-envelope-1
    sha256: $(cat breakglass.sha256)
notifications:
  - name: pager
    type: webhook
    url: http://127.0.0.1:9666/hook
    secretFile: ./hook.secret
    events: [killswitch.*, breakglass.used]
CFG
run "cat serve.yaml"

echo "## 3. ringmaster serve with the OIDC issuer"
run "(exec node $REPO/bin/ringmaster.js serve --config serve.yaml > serve.out 2> serve.err) & echo \$! > serve.pid; sleep 4; cat serve.out; grep -o '\"msg\":\"oidc[^\"]*\"' serve.err"

echo "## 4. ringctl login as alice (device flow); alice approves the code in the provider's 'browser'"
run "ringctl login --server http://127.0.0.1:8088 > login.out 2> login.err & echo \$! > login.pid; sleep 2; cat login.err"
CODE=$(grep -o 'enter the code [A-Z-]*' login.err | awk '{print $4}')
run "curl -s -d user_code=$CODE -d sub=alice -d groups=rm-deployers,rm-approvers http://127.0.0.1:9555/device; echo"
run "wait \$(cat login.pid) 2>/dev/null; sleep 2; cat login.out; ls -l xdg/ringmaster/credentials.json | cut -d' ' -f1"
run "curl -s http://127.0.0.1:8088/v1/whoami -H \"Authorization: Bearer \$(node -e 'const c=require(\"./xdg/ringmaster/credentials.json\");console.log(Object.values(c.servers)[0].accessToken)')\"; echo"

echo "## 5. ringctl apply as alice"
export RINGMASTER_URL=http://127.0.0.1:8088
run "ringctl apply -f rollout.yaml"
run "sleep 2; ringctl get"

echo "## 6. alice approves her own rollout: refused by the two-person rule"
run "ringctl approve sensor-content-7.16.291 --reason 'looks good to me'; echo exit=\$?"

echo "## 7. bob logs in (device flow) and approves: accepted"
run "ringctl logout"
run "ringctl login > login.out 2> login.err & echo \$! > login.pid; sleep 2; cat login.err"
CODE=$(grep -o 'enter the code [A-Z-]*' login.err | awk '{print $4}')
run "curl -s -d user_code=$CODE -d sub=bob -d groups=rm-approvers http://127.0.0.1:9555/device; echo"
run "wait \$(cat login.pid) 2>/dev/null; sleep 2; cat login.out"
run "ringctl approve sensor-content-7.16.291 --reason 'reviewed the canary plan'; echo exit=\$?"

echo "## 7b. carol (SRE) logs in while the provider is up"
run "ringctl logout"
run "ringctl login > login.out 2> login.err & echo \$! > login.pid; sleep 2; cat login.err"
CODE=$(grep -o 'enter the code [A-Z-]*' login.err | awk '{print $4}')
run "curl -s -d user_code=$CODE -d sub=carol -d groups=rm-sre http://127.0.0.1:9555/device; echo"
run "wait \$(cat login.pid) 2>/dev/null; sleep 2; cat login.out"

echo "## 8. The identity provider goes down"
run "kill \$(cat idp.pid); sleep 1; curl -s -m 2 http://127.0.0.1:9555/jwks || echo 'provider unreachable (curl exit' \$?')'"
run "ringctl pause sensor-content-7.16.291 --reason 'idp down: carol still has a token whose key is cached'; echo exit=\$?"

echo "## 9. The kill switch engaged with the break-glass credential"
run "RINGMASTER_TOKEN=\$(cat breakglass.secret) ringctl kill --reason 'INC-4711 IdP down and a bad update spreading'; echo exit=\$?"
run "RINGMASTER_TOKEN=\$(cat breakglass.secret) ringctl unkill --reason 'break-glass cannot release'; echo exit=\$?"
run "RINGMASTER_TOKEN=\$(cat breakglass.secret) ringctl get; echo exit=\$?"
run "curl -s http://127.0.0.1:8088/metrics | grep break_glass"
run "grep '\"kill switch engaged\"' serve.err"
run "sleep 2; cat hook.log"
run "ringctl audit | tail -6"
run "ringctl unkill --reason 'carol engaged nothing; releasing after the fix'; echo exit=\$?"
run "kill \$(cat serve.pid) \$(cat hook.pid); sleep 1; true"
