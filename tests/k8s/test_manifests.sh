#!/usr/bin/env bash
# tests/k8s/test_manifests.sh [KUBECONFIG] - cnote's Kubernetes manifests (k8s/):
#   1. renders k8s/base and every k8s/overlays/* with `kubectl kustomize` (fails on any error);
#   2. checks invariants of each render (Python + PyYAML, the checker is below): the Role has exactly
#      the allowed verbs and there is no ClusterRole/ClusterRoleBinding; the RoleBinding binds it to
#      the ServiceAccount; the server Deployment (1 replica, Recreate, non-root, seccomp, no privilege
#      escalation, capabilities dropped, requests+limits, GET /api probes on 8888, --k8s-config from
#      the ConfigMap, a fixed --instance-id, token from a Secret); Service; PVCs (RWX, class left to
#      the overlay); the profiles.yaml of the ConfigMap parses and follows the profiles format (known
#      keys, DNS-1123 slugs, GPUs/MIG whole numbers in limits with the nvidia.com/gpu toleration);
#      the kernel NetworkPolicies admit only the server to TCP 50001-50005, kernels cannot reach
#      each other, get DNS, and never reach 169.254.169.254 or private ranges; the server's egress
#      excludes the metadata address; the image pre-puller pulls exactly the profiles' image;
#   3. with a kubeconfig for a real API server ($1, else $CNOTE_K8S_ADMIN_KUBECONFIG), every render
#      goes through `kubectl apply --dry-run=server` (schema, defaulting and admission, nothing is
#      stored). The namespace cnote must exist for that: if it does not, the Namespace object of the
#      render is applied FOR REAL first (only that object). Then each pod template (Deployment,
#      DaemonSet) is dry-run as a bare Pod in a temporary namespace that enforces Pod Security
#      "restricted", so the real PodSecurity admission checks them; that namespace is deleted after.
# Without a kubeconfig step 3 is skipped with a note (exit status 0 if 1-2 pass).
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBECTL=${KUBECTL:-kubectl}
KCFG=${1:-${CNOTE_K8S_ADMIN_KUBECONFIG:-}}
command -v "$KUBECTL" >/dev/null || { echo "test_manifests: FAIL: no kubectl (set KUBECTL=...)" >&2; exit 1; }

PY=
for p in .venv/bin/python python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done
[[ -n $PY ]] || { echo "test_manifests: FAIL: no Python with PyYAML (apt-get install python3-yaml)" >&2; exit 1; }

tmp=$(mktemp -d)
pss_ns=
cleanup() {
    if [[ -n $pss_ns ]]; then
        "$KUBECTL" --kubeconfig "$KCFG" delete namespace "$pss_ns" --wait=false >/dev/null 2>&1 || true
        # no namespace controller (the test cluster has no kube-controller-manager): finalize it
        # ourselves; it holds nothing (everything in it was a dry run)
        sleep 1
        if "$KUBECTL" --kubeconfig "$KCFG" get namespace "$pss_ns" >/dev/null 2>&1; then
            printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"},"spec":{"finalizers":[]}}' "$pss_ns" |
                "$KUBECTL" --kubeconfig "$KCFG" replace --raw "/api/v1/namespaces/$pss_ns/finalize" -f - >/dev/null 2>&1 || true
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/check.py" <<'PYEOF'
#!/usr/bin/env python3
"""Invariants of one kustomize render of k8s/ (embedded in tests/k8s/test_manifests.sh).

    python3 check.py NAME RENDERED.yaml

NAME is base, dev or gpu (the overlay; a few checks differ). Prints one line per failed check and
exits 1 if any failed. Needs PyYAML."""
import ipaddress
import re
import sys

import yaml

ALLOWED_VERBS = {
    ("", "pods"): {"get", "list", "watch", "create", "delete", "patch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"get", "list", "watch"},
    ("", "secrets"): {"get", "create", "delete"},
    ("", "persistentvolumeclaims"): {"get", "list", "create"},
}
NS = "cnote"
KERNEL_LABELS = {
    "app.kubernetes.io/name": "cnote-kernel",
    "app.kubernetes.io/managed-by": "cnote",
    "app.kubernetes.io/component": "kernel",
}
KERNEL_PORTS = range(50001, 50006)
METADATA = ipaddress.ip_address("169.254.169.254")
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
PROFILE_KEYS = {"namespace", "image", "image_pull_policy", "image_pull_secrets", "command", "args",
                "resources", "node_selector", "tolerations", "affinity", "priority_class_name", "env",
                "labels", "annotations", "storage", "security", "termination_grace_s", "timeouts",
                "ports", "profiles", "warm_pool", "warm_pool_max_gpus"}
PROFILE_ENTRY_KEYS = {"slug", "display_name", "description", "default", "override"}
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "PriorityClass"}

errors = []


def fail(msg):
    errors.append(msg)


def selector_matches(sel, labels):
    """A LabelSelector (matchLabels + matchExpressions) against a label map."""
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def port_range(p):
    lo = p.get("port")
    if not isinstance(lo, int):
        return None  # named port: not used for kernels
    return range(lo, (p.get("endPort") or lo) + 1)


def blocked(block, addr):
    """True if an ipBlock peer does NOT admit addr (outside cidr, or inside an except)."""
    net = ipaddress.ip_network(block["cidr"])
    if addr.version != net.version or addr not in net:
        return True
    return any(addr in ipaddress.ip_network(x) for x in block.get("except") or [])


def check_pod_spec(where, spec, want_probes=False):
    sc = spec.get("securityContext") or {}
    if sc.get("runAsNonRoot") is not True:
        fail(f"{where}: securityContext.runAsNonRoot is not true")
    if not isinstance(sc.get("runAsUser"), int) or sc["runAsUser"] == 0:
        fail(f"{where}: securityContext.runAsUser must be a non-zero uid")
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(f"{where}: seccompProfile is not RuntimeDefault")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        fail(f"{where}: uses host namespaces")
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            fail(f"{where}: hostPath volume {v['name']}")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        cw = f"{where} container {c['name']}"
        csc = c.get("securityContext") or {}
        if csc.get("allowPrivilegeEscalation") is not False:
            fail(f"{cw}: allowPrivilegeEscalation is not false")
        if csc.get("privileged"):
            fail(f"{cw}: privileged")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            fail(f"{cw}: capabilities do not drop ALL")
        if (csc.get("capabilities") or {}).get("add"):
            fail(f"{cw}: adds capabilities")
        if csc.get("runAsUser") == 0 or csc.get("runAsNonRoot") is False:
            fail(f"{cw}: runs as root")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    fail(f"{cw}: no resources.{kind}.{r}")
    if want_probes:
        c = spec["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            hg = (c.get(probe) or {}).get("httpGet")
            if not hg:
                fail(f"{where}: {probe} is not an httpGet")
                continue
            port = ports.get(hg["port"], hg["port"])
            if hg.get("path") != "/api" or port != 8888:
                fail(f"{where}: {probe} is not GET /api on 8888 (path {hg.get('path')}, port {port})")


def check_profiles(name, text, pvcs):
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail(f"ConfigMap cnote-kernel-profiles: profiles.yaml does not parse: {e}")
        return []
    if not isinstance(cfg, dict):
        fail("profiles.yaml: not a mapping")
        return []
    for k in cfg:
        if k not in PROFILE_KEYS:
            fail(f"profiles.yaml: unknown top-level key {k!r}")
    profiles = cfg.get("profiles") or [{"slug": "default"}]
    slugs, defaults, images = set(), 0, set()
    for p in profiles:
        slug = p.get("slug", "")
        for k in p:
            if k not in PROFILE_ENTRY_KEYS:
                fail(f"profiles.yaml: profile {slug!r}: unknown key {k!r}")
        if not DNS1123_LABEL.match(str(slug)):
            fail(f"profiles.yaml: slug {slug!r} is not a DNS-1123 label")
        if slug in slugs:
            fail(f"profiles.yaml: slug {slug!r} twice")
        slugs.add(slug)
        defaults += bool(p.get("default"))
        ov = p.get("override") or {}
        for k in ov:
            if k not in PROFILE_KEYS - {"namespace", "profiles", "warm_pool_max_gpus"}:
                fail(f"profiles.yaml: profile {slug}: override key {k!r} not allowed")
        eff = dict(cfg)
        eff.pop("profiles", None)
        merge(eff, ov)
        image = eff.get("image")
        if not image:
            fail(f"profiles.yaml: profile {slug}: no image")
        else:
            images.add(image)
        if eff.get("image_pull_policy", "IfNotPresent") not in ("Always", "IfNotPresent", "Never"):
            fail(f"profiles.yaml: profile {slug}: bad image_pull_policy")
        cmd = eff.get("command", ["cnote-kernel"])
        if not (isinstance(cmd, list) and cmd and all(isinstance(x, str) for x in cmd)):
            fail(f"profiles.yaml: profile {slug}: command is not a non-empty list of strings")
        res = eff.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("requests") or {}
        for r, q in list(lim.items()) + list(req.items()):
            if "/" in r and not r.startswith("kubernetes.io/"):
                if not (isinstance(q, int) or (isinstance(q, str) and q.isdigit())):
                    fail(f"profiles.yaml: profile {slug}: {r} must be a whole number")
                if r not in lim:
                    fail(f"profiles.yaml: profile {slug}: {r} only in requests (must be in limits)")
                elif r in req and str(req[r]) != str(lim[r]):
                    fail(f"profiles.yaml: profile {slug}: {r} requests != limits")
                if r.startswith("nvidia.com/"):
                    tols = eff.get("tolerations") or []
                    if not any(t.get("key") == "nvidia.com/gpu" for t in tols):
                        fail(f"profiles.yaml: profile {slug}: asks for {r} but does not tolerate "
                             "the nvidia.com/gpu taint")
        if name == "dev" and any("nvidia.com/" in r for r in lim):
            fail(f"profiles.yaml (dev): profile {slug} asks for a GPU (dev is CPU only)")
        st = eff.get("storage", {"claim_name": "cnote-notebooks"})
        if st is not None:
            claim = st.get("claim_name", "cnote-notebooks")
            if claim not in pvcs:
                fail(f"profiles.yaml: profile {slug}: claim {claim!r} is not in the manifests")
            sp = st.get("sub_path", "{user}")
            if sp.startswith("/") or ".." in sp.split("/"):
                fail(f"profiles.yaml: profile {slug}: bad sub_path {sp!r}")
            if not str(st.get("mount_path", "/home/cnote/work")).startswith("/"):
                fail(f"profiles.yaml: profile {slug}: mount_path not absolute")
        sec = eff.get("security") or {}
        if sec.get("run_as_user", 1000) == 0:
            fail(f"profiles.yaml: profile {slug}: runs as root")
    if defaults > 1:
        fail("profiles.yaml: more than one default profile")
    if name == "gpu":
        kinds = {r for p in profiles for r in ((p.get("override") or {}).get("resources") or {})
                 .get("limits", {})}
        if "nvidia.com/gpu" not in kinds:
            fail("profiles.yaml (gpu): no profile with nvidia.com/gpu")
        if not any(k.startswith("nvidia.com/mig-") for k in kinds):
            fail("profiles.yaml (gpu): no MIG profile")
    return sorted(images)


def merge(dst, src):
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            d = dict(dst[k])
            merge(d, v)
            dst[k] = d
        else:
            dst[k] = v


def main():
    name, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    by = {}
    for o in objs:
        by.setdefault(o["kind"], []).append(o)
        ns = o["metadata"].get("namespace")
        if o["kind"] in CLUSTER_SCOPED:
            if o["kind"] != "Namespace":
                fail(f"{o['kind']} {o['metadata']['name']}: cluster-scoped object")
        elif ns != NS:
            fail(f"{o['kind']} {o['metadata']['name']}: namespace {ns!r}, want {NS!r}")

    def one(kind, nm):
        xs = [o for o in by.get(kind, []) if o["metadata"]["name"] == nm]
        if len(xs) != 1:
            fail(f"want exactly one {kind} {nm}, found {len(xs)}")
            return None
        return xs[0]

    # --- RBAC: only the namespaced Role, exactly the allowed verbs ----------------------------
    role = one("Role", "cnote-server")
    if len(by.get("Role", [])) != 1:
        fail(f"want one Role, found {len(by.get('Role', []))}")
    if role:
        got = {}
        for rule in role["rules"]:
            if rule.get("resourceNames") or rule.get("nonResourceURLs"):
                fail("Role: resourceNames/nonResourceURLs are not expected")
            for g in rule.get("apiGroups", []):
                for r in rule.get("resources", []):
                    got.setdefault((g, r), set()).update(rule.get("verbs", []))
        if got != ALLOWED_VERBS:
            fail(f"Role cnote-server verbs {sorted((k, sorted(v)) for k, v in got.items())} != allowed "
                 f"{sorted((k, sorted(v)) for k, v in ALLOWED_VERBS.items())}")
    rb = one("RoleBinding", "cnote-server")
    if rb:
        if rb["roleRef"] != {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cnote-server"}:
            fail(f"RoleBinding: roleRef {rb['roleRef']}")
        if rb["subjects"] != [{"kind": "ServiceAccount", "name": "cnote-server", "namespace": NS}]:
            fail(f"RoleBinding: subjects {rb['subjects']}")
    one("ServiceAccount", "cnote-server")
    ns = one("Namespace", NS)
    if ns and ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
        fail("Namespace cnote: Pod Security 'restricted' is not enforced")

    # --- storage ------------------------------------------------------------------------------
    pvcs = {o["metadata"]["name"]: o for o in by.get("PersistentVolumeClaim", [])}
    nb = pvcs.get("cnote-notebooks")
    if not nb:
        fail("no PersistentVolumeClaim cnote-notebooks")
    else:
        modes = nb["spec"]["accessModes"]
        if name == "dev":
            if modes != ["ReadWriteOnce"]:
                fail(f"dev: cnote-notebooks accessModes {modes}, want ReadWriteOnce")
        elif modes != ["ReadWriteMany"]:
            fail(f"{name}: cnote-notebooks accessModes {modes}, want ReadWriteMany")
        if name == "base" and "storageClassName" in nb["spec"]:
            fail("base: cnote-notebooks has a storageClassName (the overlay chooses it)")
        if name != "base" and not nb["spec"].get("storageClassName"):
            fail(f"{name}: cnote-notebooks has no storageClassName")

    # --- the server Deployment ------------------------------------------------------------------
    dep = one("Deployment", "cnote-server")
    server_labels = {}
    if dep:
        spec = dep["spec"]
        if spec.get("replicas") != 1:
            fail(f"Deployment: replicas {spec.get('replicas')}, want 1")
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            fail("Deployment: strategy is not Recreate")
        tmpl = spec["template"]
        server_labels = tmpl["metadata"].get("labels", {})
        if not selector_matches(spec["selector"], server_labels):
            fail("Deployment: selector does not match its template")
        ps = tmpl["spec"]
        if ps.get("serviceAccountName") != "cnote-server":
            fail("Deployment: serviceAccountName is not cnote-server")
        check_pod_spec("Deployment cnote-server", ps, want_probes=True)
        c = ps["containers"][0]
        args = c.get("args") or []
        for flag, val in (("--k8s-config", "/etc/cnote/profiles.yaml"), ("--ip", "0.0.0.0"),
                          ("--port", "8888"), ("--root", "/srv/notebooks/default")):
            if flag not in args or args.index(flag) + 1 >= len(args) or args[args.index(flag) + 1] != val:
                fail(f"Deployment: args lack {flag} {val}")
        if "--instance-id" not in args:
            fail("Deployment: no fixed --instance-id (the default, the hostname, changes per rollout)")
        vols = {v["name"]: v for v in ps.get("volumes") or []}
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        cm_vol = vols.get(mounts.get("/etc/cnote"), {})
        if (cm_vol.get("configMap") or {}).get("name") != "cnote-kernel-profiles":
            fail("Deployment: /etc/cnote is not the ConfigMap cnote-kernel-profiles")
        nb_vol = vols.get(mounts.get("/srv/notebooks"), {})
        if (nb_vol.get("persistentVolumeClaim") or {}).get("claimName") != "cnote-notebooks":
            fail("Deployment: /srv/notebooks is not the claim cnote-notebooks")
        for v in vols.values():
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and claim not in pvcs:
                fail(f"Deployment: volume {v['name']} uses claim {claim} that is not in the manifests")
        env = {e["name"]: e for e in c.get("env") or []}
        if "CNOTE_TOKEN" not in env or "secretKeyRef" not in env["CNOTE_TOKEN"].get("valueFrom", {}):
            fail("Deployment: CNOTE_TOKEN does not come from a Secret")
        if selector_matches({"matchLabels": {"app.kubernetes.io/component": "kernel"}}, server_labels):
            fail("Deployment: the server's pods carry the kernel label")
    svc = one("Service", "cnote-server")
    if svc and dep:
        if not selector_matches({"matchLabels": svc["spec"]["selector"]}, server_labels):
            fail("Service: selector does not match the server pods")
        if [p["port"] for p in svc["spec"]["ports"]] != [8888] or svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            fail("Service: want ClusterIP port 8888")

    # --- profiles ---------------------------------------------------------------------------------
    images = []
    cm = one("ConfigMap", "cnote-kernel-profiles")
    if cm:
        if "profiles.yaml" not in cm.get("data", {}):
            fail("ConfigMap cnote-kernel-profiles: no key profiles.yaml")
        else:
            images = check_profiles(name, cm["data"]["profiles.yaml"], pvcs)

    # --- other workloads (the image pre-puller) ---------------------------------------------------
    for ds in by.get("DaemonSet", []):
        ps = ds["spec"]["template"]["spec"]
        check_pod_spec(f"DaemonSet {ds['metadata']['name']}", ps)
        if ps.get("automountServiceAccountToken") is not False:
            fail(f"DaemonSet {ds['metadata']['name']}: automountServiceAccountToken is not false")
        pulled = {c["image"] for c in ps.get("initContainers") or []}
        if pulled != set(images):
            fail(f"DaemonSet {ds['metadata']['name']} pre-pulls {sorted(pulled)} but the profiles use "
                 f"{images}")
    if name == "gpu" and not by.get("DaemonSet"):
        fail("gpu: no image pre-puller DaemonSet")

    # --- NetworkPolicies --------------------------------------------------------------------------
    nps = by.get("NetworkPolicy", [])
    kernel_in = [n for n in nps if selector_matches(n["spec"]["podSelector"], KERNEL_LABELS)
                 and "Ingress" in n["spec"].get("policyTypes", ["Ingress"])]
    kernel_eg = [n for n in nps if selector_matches(n["spec"]["podSelector"], KERNEL_LABELS)
                 and "Egress" in n["spec"].get("policyTypes", [])]
    if not kernel_in:
        fail("NetworkPolicy: no policy isolates kernel pods' ingress")
    if not kernel_eg:
        fail("NetworkPolicy: no policy isolates kernel pods' egress")
    for n in kernel_in:
        for rule in n["spec"].get("ingress") or []:
            peers = rule.get("from")
            if not peers:
                fail(f"NetworkPolicy {n['metadata']['name']}: an ingress rule admits every source")
                continue
            for p in peers:
                if "ipBlock" in p or "namespaceSelector" in p or "podSelector" not in p:
                    fail(f"NetworkPolicy {n['metadata']['name']}: ingress peer {p} is not a pod selector")
                    continue
                if not server_labels or not selector_matches(p["podSelector"], server_labels):
                    fail(f"NetworkPolicy {n['metadata']['name']}: ingress peer {p} does not select the server")
                if selector_matches(p["podSelector"], KERNEL_LABELS):
                    fail(f"NetworkPolicy {n['metadata']['name']}: kernels may reach other kernels")
            ports = rule.get("ports")
            if not ports:
                fail(f"NetworkPolicy {n['metadata']['name']}: ingress rule without ports")
            for p in ports or []:
                rng = port_range(p)
                if p.get("protocol", "TCP") != "TCP" or rng is None or rng.start < 50001 or rng.stop > 50006:
                    fail(f"NetworkPolicy {n['metadata']['name']}: ingress port {p} outside TCP 50001-50005")
        covered = set()
        for rule in n["spec"].get("ingress") or []:
            for p in rule.get("ports") or []:
                covered.update(port_range(p) or [])
        if not set(KERNEL_PORTS) <= covered and n["spec"].get("ingress"):
            fail(f"NetworkPolicy {n['metadata']['name']}: not all kernel ports 50001-50005 admitted")
    dns = False
    for n in kernel_eg:
        for rule in n["spec"].get("egress") or []:
            peers = rule.get("to")
            if not peers:
                fail(f"NetworkPolicy {n['metadata']['name']}: a kernel egress rule allows every destination")
                continue
            ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}
            for p in peers:
                if "ipBlock" in p:
                    for addr in [METADATA] + [net.network_address + 1 for net in PRIVATE]:
                        if not blocked(p["ipBlock"], addr):
                            fail(f"NetworkPolicy {n['metadata']['name']}: kernels may reach {addr}")
                elif selector_matches(p.get("podSelector", {"matchLabels": {"x": None}}), KERNEL_LABELS) \
                        and "namespaceSelector" not in p:
                    fail(f"NetworkPolicy {n['metadata']['name']}: kernels may reach other kernels")
                elif (p.get("podSelector") or {}).get("matchLabels", {}).get("k8s-app") == "kube-dns":
                    if {("UDP", 53), ("TCP", 53)} <= ports:
                        dns = True
                    if ports - {("UDP", 53), ("TCP", 53)}:
                        fail(f"NetworkPolicy {n['metadata']['name']}: kube-dns rule opens {ports}")
                else:
                    fail(f"NetworkPolicy {n['metadata']['name']}: unexpected kernel egress peer {p}")
    if kernel_eg and not dns:
        fail("NetworkPolicy: kernels get no DNS (UDP+TCP 53 to kube-dns)")
    srv = [n for n in nps if server_labels and selector_matches(n["spec"]["podSelector"], server_labels)]
    if not srv:
        fail("NetworkPolicy: no policy for the server pods")
    for n in srv:
        for rule in n["spec"].get("egress") or []:
            if not rule.get("to"):
                fail(f"NetworkPolicy {n['metadata']['name']}: a server egress rule allows every destination")
            for p in rule.get("to") or []:
                if "ipBlock" in p and not blocked(p["ipBlock"], METADATA):
                    fail(f"NetworkPolicy {n['metadata']['name']}: the server may reach {METADATA}")
        eg_types = n["spec"].get("policyTypes", [])
        if "Egress" not in eg_types:
            fail(f"NetworkPolicy {n['metadata']['name']}: server egress not restricted")
    for e in errors:
        print(f"  FAIL {name}: {e}")
    if not errors:
        print(f"  ok   {name}: {len(objs)} objects; Role verbs, RBAC, Deployment, Service, PVC, "
              f"profiles ({', '.join(images)}), {len(nps)} NetworkPolicies")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
PYEOF

fails=0
renders=()
for d in k8s/base k8s/overlays/*/; do
    d=${d%/}
    name=$(basename "$d")
    out="$tmp/$name.yaml"
    if ! "$KUBECTL" kustomize "$d" >"$out" 2>"$tmp/$name.err"; then
        echo "  FAIL $name: kubectl kustomize $d:"; sed 's/^/       /' "$tmp/$name.err"
        fails=$((fails + 1))
        continue
    fi
    renders+=("$name")
    "$PY" "$tmp/check.py" "$name" "$out" || fails=$((fails + 1))
done

if [[ -z $KCFG ]]; then
    echo "  note: no kubeconfig (\$1 or CNOTE_K8S_ADMIN_KUBECONFIG): server-side dry-run skipped"
elif [[ ! -r $KCFG ]]; then
    echo "  FAIL: kubeconfig $KCFG is not readable"; fails=$((fails + 1))
else
    k=("$KUBECTL" --kubeconfig "$KCFG" --request-timeout=20s)
    if ! "${k[@]}" get --raw /version >/dev/null 2>"$tmp/ver.err"; then
        echo "  FAIL: the API server of $KCFG does not answer:"; sed 's/^/       /' "$tmp/ver.err"
        exit 1
    fi
    if ! "${k[@]}" get namespace cnote >/dev/null 2>&1; then
        echo "  note: namespace cnote does not exist: applying the Namespace object for real"
        "$PY" - "$tmp/base.yaml" >"$tmp/ns.yaml" <<'PYEOF'
import sys, yaml
print(yaml.safe_dump([o for o in yaml.safe_load_all(open(sys.argv[1])) if o and o["kind"] == "Namespace"][0]))
PYEOF
        "${k[@]}" apply -f "$tmp/ns.yaml" >/dev/null
    fi
    for name in "${renders[@]}"; do
        if "${k[@]}" apply --dry-run=server -f "$tmp/$name.yaml" >"$tmp/$name.dry" 2>"$tmp/$name.dryerr"; then
            if grep -qi 'warning' "$tmp/$name.dryerr"; then
                echo "  FAIL $name: server dry-run warnings:"; sed 's/^/       /' "$tmp/$name.dryerr"
                fails=$((fails + 1))
            else
                echo "  ok   $name: kubectl apply --dry-run=server ($(wc -l <"$tmp/$name.dry") objects)"
            fi
        else
            echo "  FAIL $name: kubectl apply --dry-run=server:"; sed 's/^/       /' "$tmp/$name.dryerr" "$tmp/$name.dry"
            fails=$((fails + 1))
        fi
    done
    # Pod Security "restricted", judged by the API server's own admission plugin
    pss_ns="cnote-pss-check-$$"
    "${k[@]}" create namespace "$pss_ns" >/dev/null
    "${k[@]}" label namespace "$pss_ns" pod-security.kubernetes.io/enforce=restricted \
        pod-security.kubernetes.io/enforce-version=latest >/dev/null
    for name in "${renders[@]}"; do
        "$PY" - "$tmp/$name.yaml" "$pss_ns" >"$tmp/$name.pods.yaml" <<'PYEOF'
import sys, yaml
out = []
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        t = o["spec"]["template"]
        t["spec"].pop("serviceAccountName", None)  # that ServiceAccount is not in the check namespace
        t["spec"]["automountServiceAccountToken"] = False
        out.append({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"{o['kind'].lower()}-{o['metadata']['name']}", "namespace": sys.argv[2],
                                 "labels": t["metadata"].get("labels", {})},
                    "spec": t["spec"]})
print(yaml.safe_dump_all(out))
PYEOF
        if "${k[@]}" apply --dry-run=server -f "$tmp/$name.pods.yaml" >"$tmp/$name.pdry" 2>"$tmp/$name.pdryerr" &&
            ! grep -qi 'warning' "$tmp/$name.pdryerr"; then
            echo "  ok   $name: pod templates pass Pod Security 'restricted' (server dry-run)"
        else
            echo "  FAIL $name: pod templates vs Pod Security 'restricted':"; sed 's/^/       /' "$tmp/$name.pdryerr"
            fails=$((fails + 1))
        fi
    done
fi

if ((fails)); then
    echo "test_manifests: FAIL ($fails)"
    exit 1
fi
echo "test_manifests: ok"
