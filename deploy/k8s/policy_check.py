#!/usr/bin/env python3
"""The kit's own rules for the Kubernetes manifests, beyond schema validity.

Usage: policy_check.py RENDERED.yaml [SECRET.yaml] [SERVICEMONITOR.yaml]
RENDERED.yaml is `kubectl kustomize deploy/k8s`. Prints every violation; exit 1 if any.
Needs PyYAML (deploy/check.sh runs it from its tools virtualenv).
"""
import sys

import yaml

errors = []


def need(cond, msg):
    if not cond:
        errors.append(msg)


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def basic(doc, where):
    for key in ("apiVersion", "kind"):
        need(doc.get(key), f"{where}: missing {key}")
    need((doc.get("metadata") or {}).get("name"), f"{where}: missing metadata.name")


def env_var(container, name):
    return next((e for e in container.get("env", []) if e.get("name") == name), None)


rendered = load(sys.argv[1])
for i, d in enumerate(rendered):
    basic(d, f"{sys.argv[1]} document {i + 1}")
by_kind = {}
for d in rendered:
    by_kind.setdefault(d["kind"], []).append(d)

# ------------------------------------------------------------------ Deployment
deps = by_kind.get("Deployment", [])
need(len(deps) == 1, "exactly one Deployment expected")
dep = deps[0] if deps else {}
spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
need(spec.get("replicas", 1) >= 2, "Deployment: replicas must be >= 2")
need(pod.get("terminationGracePeriodSeconds", 30) >= 15,
     "Deployment: terminationGracePeriodSeconds must be >= 15 (the daemon drains in 10 s)")
psc = pod.get("securityContext", {})
need(psc.get("runAsNonRoot") is True, "Deployment: pod securityContext.runAsNonRoot must be true")
need(psc.get("runAsUser", 0) != 0, "Deployment: runAsUser must not be 0")
need(pod.get("automountServiceAccountToken") is False, "Deployment: no service account token needed")
containers = pod.get("containers", [])
need(len(containers) == 1, "Deployment: one container expected")
c = containers[0] if containers else {}
csc = c.get("securityContext", {})
need(csc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem must be true")
need(csc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation must be false")
need("ALL" in csc.get("capabilities", {}).get("drop", []), "container: capabilities must drop ALL")
need(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
     "container: readinessProbe must GET /readyz")
need(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
     "container: livenessProbe must GET /healthz")
res = c.get("resources", {})
for k in ("cpu", "memory"):
    need(k in res.get("requests", {}), f"container: resources.requests.{k} missing")
need("memory" in res.get("limits", {}), "container: resources.limits.memory missing")
for name in ("AMQP_URL", "DATABASE_URL"):
    e = env_var(c, name)
    need(e is not None and "secretKeyRef" in e.get("valueFrom", {}),
         f"container: {name} must come from a secretKeyRef")
for e in c.get("env", []):
    need("value" not in e or "://" not in str(e["value"]),
         f"container: env {e.get('name')} holds a URL in clear; use the Secret")
need(c.get("args", [])[:3] == ["run", "--config", "/etc/leadrouter/leadrouter.yaml"],
     "container: args must be `run --config /etc/leadrouter/leadrouter.yaml`")

# The rules: a ConfigMap mounted as a directory (subPath mounts never update).
mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
rules_mount = next((m for m in mounts.values() if m.get("mountPath") == "/etc/leadrouter/rules"), None)
need(rules_mount is not None, "container: rules must be mounted at /etc/leadrouter/rules")
if rules_mount:
    need("subPath" not in rules_mount, "rules mount must not use subPath (no live updates)")
    vol = vols.get(rules_mount["name"], {})
    need("configMap" in vol, "rules volume must be a ConfigMap")
    cm_name = vol.get("configMap", {}).get("name")
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    need(cm_name in cms, f"rules ConfigMap {cm_name} is not generated (or got a hash suffix)")
    if cm_name in cms:
        for item in vol["configMap"].get("items", []):
            need(item["key"] in cms[cm_name].get("data", {}),
                 f"rules ConfigMap lacks key {item['key']}")
        need("routing.yaml" in cms[cm_name].get("data", {}), "rules ConfigMap lacks routing.yaml")

# Settings: the env ConfigMap must make the HTTP server reachable for the probes.
env_cms = [r["configMapRef"]["name"] for r in c.get("envFrom", []) if "configMapRef" in r]
settings = {}
for d in by_kind.get("ConfigMap", []):
    if d["metadata"]["name"] in env_cms:
        settings.update(d.get("data", {}))
need(settings.get("LEADROUTER_HTTP__LISTEN", "").startswith("0.0.0.0:9464"),
     "LEADROUTER_HTTP__LISTEN must be 0.0.0.0:9464 in the pod (probes and scraping)")
for k in settings:
    need(k.startswith("LEADROUTER_") and "__" in k, f"env ConfigMap: {k} is not a LEADROUTER_SECTION__KEY")

# ------------------------------------------------------------------ others
pdbs = by_kind.get("PodDisruptionBudget", [])
need(len(pdbs) == 1, "exactly one PodDisruptionBudget expected")
for p in pdbs:
    need(p["spec"].get("minAvailable") == 1, "PodDisruptionBudget: minAvailable must be 1")
    sel = p["spec"].get("selector", {}).get("matchLabels", {})
    need(sel and all(pod_labels.get(k) == v for k, v in sel.items()), "PDB selector must match the pods")

svcs = by_kind.get("Service", [])
need(len(svcs) == 1, "exactly one Service (metrics) expected")
for s in svcs:
    sel = s["spec"].get("selector", {})
    need(sel and all(pod_labels.get(k) == v for k, v in sel.items()), "Service selector must match the pods")
    need(any(p.get("port") == 9464 for p in s["spec"].get("ports", [])), "Service must expose 9464")
    need(s["spec"].get("publishNotReadyAddresses") is True,
         "Service: publishNotReadyAddresses must be true (scrape unready pods)")

sel = spec.get("selector", {}).get("matchLabels", {})
need(sel and all(pod_labels.get(k) == v for k, v in sel.items()), "Deployment selector must match its pods")

# ------------------------------------------------------------------ extra files
for path in sys.argv[2:]:
    for i, d in enumerate(load(path)):
        basic(d, f"{path} document {i + 1}")
        if d.get("kind") == "Secret":
            data = d.get("stringData", {})
            need(set(data) == {"AMQP_URL", "DATABASE_URL"}, f"{path}: Secret keys must be AMQP_URL, DATABASE_URL")
            for k, v in data.items():
                need("CHANGE_ME" in v, f"{path}: {k} must hold a placeholder password (CHANGE_ME), never a real one")
            need("data" not in d, f"{path}: use stringData placeholders, not base64 data")
        if d.get("kind") == "ServiceMonitor":
            need(d.get("apiVersion") == "monitoring.coreos.com/v1", f"{path}: apiVersion")
            eps = d.get("spec", {}).get("endpoints", [])
            need(eps and eps[0].get("port") == "metrics", f"{path}: endpoint port must be the Service's `metrics`")
            msel = d.get("spec", {}).get("selector", {}).get("matchLabels", {})
            svc_labels = svcs[0]["metadata"].get("labels", {}) if svcs else {}
            need(msel and all(svc_labels.get(k) == v for k, v in msel.items()),
                 f"{path}: selector must match the Service's labels")

for e in errors:
    print("policy:", e, file=sys.stderr)
if not errors:
    print(f"{len(rendered)} objects follow the kit's policy")
sys.exit(1 if errors else 0)
