#!/usr/bin/env python3
"""Test-only "process kubelet" for cnote's Kubernetes end-to-end tests (issue 7).

It registers one Node with a real kube-apiserver (capacity incl. nvidia.com/gpu), keeps its Ready
condition and its Lease fresh, watches the pods bound to it (list + watch, re-list on 410/errors) and
runs each container's command+args as a local process: every pod gets its own loopback IP
127.a.b.c (never 127.0.0.1), env is resolved like a kubelet does (value with $(VAR) expansion,
secretKeyRef, configMapKeyRef, fieldRef, envFrom), readiness/liveness probes (tcpSocket, exec,
httpGet) run against the pod IP, and pod status/events are written back like a kubelet's
(phases, conditions, containerStatuses with ContainerCreating / ErrImagePull / ImagePullBackOff /
CreateContainerConfigError / Completed / Error / OOMKilled). Graceful deletion: SIGTERM, wait
deletionGracePeriodSeconds, SIGKILL, then DELETE with gracePeriodSeconds=0 and a uid precondition.
An HTTPS endpoint serves /containerLogs/... so that `kubectl logs` works through the apiserver.

What it does NOT do: containers, images, namespaces, cgroups, volumes, securityContext (processes
run as the kubelet's user), init containers, startup probes, exec/attach/port-forward.

Image rule: an image whose repository name ends in "cnote-kernel" (any registry/tag) is "present";
any other image fails to pull (ErrImagePull, then ImagePullBackOff, pod stays Pending).

Test hooks (files under --state-dir):
  pods/<namespace>_<pod>/oom     created by a test: the kubelet SIGKILLs the pod's containers and
                                 reports them terminated with reason OOMKilled, exitCode 137.
  node-lost (or SIGUSR1)         the node is "lost": heartbeats stop, every pod process is killed,
                                 and nothing more is reported to the apiserver.
Each pod's logs are in pods/<namespace>_<pod>/<container>.log.

Python 3 standard library only. Started by scripts/k8s/cluster.sh; see --help for options.
"""

import argparse
import base64
import datetime
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _libc = None

PR_SET_PDEATHSIG = 1
KUBELET_VERSION = "v1.37.2-cnote-process-kubelet"


def log(msg, **kv):
    ctx = " ".join("%s=%s" % (k, v) for k, v in kv.items())
    sys.stderr.write("%s kubelet: %s %s\n" % (now(), msg, ctx))
    sys.stderr.flush()


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------
# API client


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body[:300]))
        self.status = status
        self.body = body


def _kubeconfig_value(text, key):
    m = re.search(r"^\s*-?\s*%s:\s*(\S+)\s*$" % re.escape(key), text, re.M)
    return m.group(1).strip("\"'") if m else None


class Api:
    """Minimal Kubernetes REST client: one connection per call, bearer token or client cert."""

    def __init__(self, kubeconfig=None, server=None, token=None, ca=None):
        cadata = None
        cert = key = None
        if kubeconfig:
            text = open(kubeconfig).read()
            if text.lstrip().startswith("{"):
                cfg = json.loads(text)
                cl = cfg["clusters"][0]["cluster"]
                us = cfg["users"][0]["user"]
                text = "\n".join("%s: %s" % (k, v) for d in (cl, us) for k, v in d.items())
            server = server or _kubeconfig_value(text, "server")
            token = token or _kubeconfig_value(text, "token")
            d = _kubeconfig_value(text, "certificate-authority-data")
            if d:
                cadata = base64.b64decode(d).decode()
            ca = ca or _kubeconfig_value(text, "certificate-authority")
            cd = _kubeconfig_value(text, "client-certificate-data")
            kd = _kubeconfig_value(text, "client-key-data")
            if cd and kd:
                tmp = tempfile.mkdtemp(prefix="kubelet-cred-")
                cert, key = os.path.join(tmp, "c.crt"), os.path.join(tmp, "c.key")
                with open(cert, "wb") as f:
                    f.write(base64.b64decode(cd))
                with open(key, "wb") as f:
                    f.write(base64.b64decode(kd))
        if not server:
            raise SystemExit("kubelet: no apiserver URL (--kubeconfig or --server)")
        u = urllib.parse.urlparse(server)
        self.host, self.port = u.hostname, u.port or 443
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca, cadata=cadata)
        if cert:
            self.ctx.load_cert_chain(cert, key)

    def conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def headers(self, ctype=None):
        h = {"Accept": "application/json", "User-Agent": "cnote-process-kubelet"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if ctype:
            h["Content-Type"] = ctype
        return h

    def call(self, method, path, body=None, ctype="application/json", ok=(200, 201, 202)):
        data = json.dumps(body).encode() if body is not None else None
        c = self.conn()
        try:
            c.request(method, path, body=data, headers=self.headers(ctype if data else None))
            r = c.getresponse()
            raw = r.read().decode("utf-8", "replace")
        finally:
            c.close()
        if r.status not in ok:
            raise ApiError(r.status, raw)
        return json.loads(raw) if raw else None

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body):
        return self.call("POST", path, body)

    def patch(self, path, body, kind="merge"):
        return self.call("PATCH", path, body, ctype="application/%s-patch+json" % kind)

    def delete(self, path, body=None):
        return self.call("DELETE", path, body)

    def watch(self, path, timeout=330):
        """Yield watch events (dicts) until the stream ends."""
        c = self.conn(timeout=timeout)
        try:
            c.request("GET", path, headers=self.headers())
            r = c.getresponse()
            if r.status != 200:
                raise ApiError(r.status, r.read().decode("utf-8", "replace"))
            while True:
                line = r.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            c.close()


# --------------------------------------------------------------------------------------------
# helpers


def image_present(image):
    """The process kubelet's image rule: repository names ending in cnote-kernel are local."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    repo = last.split(":", 1)[0]
    return repo.endswith("cnote-kernel")


def image_repo_name(image):
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(s, env):
    """Kubernetes $(VAR) expansion; $$ escapes; unknown references stay as they are."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR_REF.sub(sub, s)


def quantity_int(q):
    try:
        return int(str(q))
    except ValueError:
        return 0


class ConfigError(Exception):
    """A container cannot be configured yet (e.g. its secret is missing)."""


# --------------------------------------------------------------------------------------------
# pods


class Container:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.proc = None
        self.log_path = None
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.ready = False
        self.started = False
        self.restart_count = 0
        self.container_id = ""
        self.oom = False
        self.exit_time = None

    def status(self, image_id):
        st = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": image_id if self.container_id else "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            st["containerID"] = self.container_id
        return st


class Pod:
    """One pod: a thread runs its lifecycle; status is patched as it changes."""

    def __init__(self, kubelet, pod):
        self.k = kubelet
        self.api = kubelet.api
        self.obj = pod
        md = pod["metadata"]
        self.ns, self.name, self.uid = md["namespace"], md["name"], md["uid"]
        self.key = "%s_%s" % (self.ns, self.name)
        self.dir = os.path.join(kubelet.state_dir, "pods", self.key)
        os.makedirs(self.dir, exist_ok=True)
        self.ip = None
        self.containers = [Container(c) for c in pod["spec"].get("containers", [])]
        self.lock = threading.RLock()
        self.phase = "Pending"
        self.start_time = None
        self.deleting = threading.Event()
        self.gone = threading.Event()      # the pod object no longer exists
        self.grace = None
        self.done = False
        self.events = {}
        self.cond_times = {}
        self.gpus = []
        self.thread = threading.Thread(target=self.run, name="pod-" + self.name, daemon=True)

    # -- api
    @property
    def path(self):
        return "/api/v1/namespaces/%s/pods/%s" % (self.ns, self.name)

    def event(self, reason, message, etype="Normal", container=None):
        if self.k.lost:
            return
        key = (reason, message)
        ts = now()
        try:
            if key in self.events:
                name, count = self.events[key]
                self.events[key] = (name, count + 1)
                self.api.patch("/api/v1/namespaces/%s/events/%s" % (self.ns, name),
                               {"count": count + 1, "lastTimestamp": ts})
                return
            name = "%s.%x" % (self.name, time.time_ns())
            inv = {"kind": "Pod", "namespace": self.ns, "name": self.name, "uid": self.uid,
                   "apiVersion": "v1", "resourceVersion": self.obj["metadata"].get("resourceVersion", "")}
            if container:
                inv["fieldPath"] = "spec.containers{%s}" % container
            self.api.post("/api/v1/namespaces/%s/events" % self.ns, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": self.ns},
                "involvedObject": inv, "reason": reason, "message": message, "type": etype,
                "source": {"component": "kubelet", "host": self.k.node},
                "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
                "reportingComponent": "kubelet", "reportingInstance": self.k.node,
            })
            self.events[key] = (name, 1)
        except Exception as e:  # events are best effort, as in a real kubelet
            log("event failed", pod=self.key, reason=reason, err=e)

    def cond(self, ctype, status, reason=None):
        prev = self.cond_times.get(ctype)
        if prev is None or prev[0] != status:
            self.cond_times[ctype] = (status, now())
        c = {"type": ctype, "status": status, "lastProbeTime": None,
             "lastTransitionTime": self.cond_times[ctype][1]}
        if reason:
            c["reason"] = reason
        return c

    def push_status(self):
        if self.k.lost or self.gone.is_set():
            return
        with self.lock:
            all_ready = bool(self.containers) and all(c.ready for c in self.containers)
            finished = self.phase in ("Succeeded", "Failed")
            not_ready_reason = "PodCompleted" if finished else "ContainersNotReady"
            sandbox = self.ip is not None and not finished
            conds = [
                self.cond("PodReadyToStartContainers", "True" if sandbox else "False"),
                self.cond("Initialized", "True"),
                self.cond("Ready", "True" if all_ready else "False", None if all_ready else not_ready_reason),
                self.cond("ContainersReady", "True" if all_ready else "False", None if all_ready else not_ready_reason),
            ]
            for c in self.obj.get("status", {}).get("conditions", []) or []:
                if c.get("type") == "PodScheduled":
                    conds.append(c)
                    break
            else:
                conds.append(self.cond("PodScheduled", "True"))
            image_id = "docker.io/library/cnote-kernel@sha256:" + "0" * 64
            st = {
                "phase": self.phase,
                "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                "conditions": conds,
                "containerStatuses": [c.status(image_id) for c in self.containers],
            }
            if self.obj.get("status", {}).get("qosClass"):
                st["qosClass"] = self.obj["status"]["qosClass"]
            if self.ip:
                st["podIP"] = self.ip
                st["podIPs"] = [{"ip": self.ip}]
            if self.start_time:
                st["startTime"] = self.start_time
        try:
            self.api.patch(self.path + "/status", {"status": st})
        except ApiError as e:
            if e.status == 404:
                self.gone.set()
            else:
                log("status patch failed", pod=self.key, err=e)
        except Exception as e:
            log("status patch failed", pod=self.key, err=e)

    # -- env
    def field(self, path):
        md = self.obj["metadata"]
        m = re.match(r"metadata\.(labels|annotations)\['(.*)'\]$", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        simple = {
            "metadata.name": md["name"], "metadata.namespace": md["namespace"], "metadata.uid": md["uid"],
            "spec.nodeName": self.k.node, "spec.serviceAccountName": self.obj["spec"].get("serviceAccountName", ""),
            "status.podIP": self.ip or "", "status.podIPs": self.ip or "",
            "status.hostIP": "127.0.0.1", "status.hostIPs": "127.0.0.1",
        }
        if path not in simple:
            raise ConfigError("unsupported fieldRef %s" % path)
        return simple[path]

    def lookup(self, kind, name, key, optional):
        try:
            obj = self.api.get("/api/v1/namespaces/%s/%s/%s" % (self.ns, kind, name))
        except ApiError as e:
            if e.status == 404:
                if optional:
                    return None
                raise ConfigError('%s "%s" not found' % (kind[:-1], name))
            raise
        if kind == "secrets":
            data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
            data.update(obj.get("stringData") or {})
        else:
            data = dict(obj.get("data") or {})
        if key is None:
            return data
        if key not in data:
            if optional:
                return None
            raise ConfigError("couldn't find key %s in %s %s/%s" % (key, kind[:-1].capitalize(), self.ns, name))
        return data[key]

    def container_env(self, c):
        base = {}
        for k in ("PATH", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH", "TMPDIR", "PYTHONPATH"):
            if k in os.environ:
                base[k] = os.environ[k]
        base["PATH"] = os.path.join(self.k.repo, "build", "bin") + os.pathsep + base.get("PATH", "/usr/bin:/bin")
        base["HOSTNAME"] = self.name
        base["HOME"] = self.dir
        env = {}
        for ef in c.spec.get("envFrom", []) or []:
            prefix = ef.get("prefix", "")
            if "secretRef" in ef:
                r = ef["secretRef"]
                d = self.lookup("secrets", r["name"], None, r.get("optional", False)) or {}
            elif "configMapRef" in ef:
                r = ef["configMapRef"]
                d = self.lookup("configmaps", r["name"], None, r.get("optional", False)) or {}
            else:
                d = {}
            for k, v in d.items():
                env[prefix + k] = v
        for e in c.spec.get("env", []) or []:
            if "valueFrom" in e:
                vf = e["valueFrom"]
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    v = self.lookup("secrets", r["name"], r["key"], r.get("optional", False))
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    v = self.lookup("configmaps", r["name"], r["key"], r.get("optional", False))
                elif "fieldRef" in vf:
                    v = self.field(vf["fieldRef"]["fieldPath"])
                elif "resourceFieldRef" in vf:
                    r = vf["resourceFieldRef"]
                    res = (c.spec.get("resources") or {})
                    kind, rname = r["resource"].split(".", 1)
                    v = str((res.get(kind) or {}).get(rname, "0"))
                else:
                    raise ConfigError("unsupported valueFrom in env %s" % e["name"])
                if v is None:
                    continue
            else:
                v = expand(e.get("value", ""), env)
            env[e["name"]] = v
        if self.gpus:
            env.setdefault("NVIDIA_VISIBLE_DEVICES", ",".join(str(g) for g in self.gpus))
        base.update(env)
        return base

    # -- processes
    def pdeath(self):
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def start_container(self, c, env):
        spec = c.spec
        cmd = [expand(a, env) for a in (spec.get("command") or [image_repo_name(spec.get("image", ""))])]
        args = [expand(a, env) for a in (spec.get("args") or [])]
        argv = cmd + args
        wd = spec.get("workingDir")
        cwd = wd if wd and os.path.isdir(wd) else os.path.join(self.dir, "work")
        os.makedirs(cwd, exist_ok=True)
        c.log_path = os.path.join(self.dir, c.name + ".log")
        if c.restart_count and os.path.exists(c.log_path):
            os.replace(c.log_path, c.log_path + ".previous")
        exe = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
        if not exe or not os.access(exe, os.X_OK):
            raise FileNotFoundError('exec: "%s": executable file not found in $PATH' % argv[0])
        logf = open(c.log_path, "ab")
        try:
            c.proc = subprocess.Popen([exe] + argv[1:], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=self.pdeath)
        finally:
            logf.close()
        self.k.register_proc(c.proc)
        c.container_id = "process://%s/%d" % (self.k.node, c.proc.pid)
        c.state = {"running": {"startedAt": now()}}
        c.started = True
        log("started container", pod=self.key, container=c.name, pid=c.proc.pid, argv=" ".join(argv)[:200])

    def kill_container(self, c, sig):
        p = c.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass

    def kill_all(self, grace):
        """SIGTERM, wait up to grace seconds, SIGKILL (whole process groups)."""
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None:
                self.event("Killing", "Stopping container %s" % c.name, container=c.name)
                self.kill_container(c, signal.SIGTERM)
        deadline = time.monotonic() + max(grace, 0)
        while time.monotonic() < deadline and any(c.proc is not None and c.proc.poll() is None for c in self.containers):
            time.sleep(0.05)
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None:
                self.kill_container(c, signal.SIGKILL)
                c.proc.wait()
            if c.proc is not None:
                # also reap whatever is left of the process group
                try:
                    os.killpg(c.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    # -- probes
    def probe_ok(self, c, probe, env):
        timeout = probe.get("timeoutSeconds", 1)
        try:
            if "tcpSocket" in probe:
                port = self.port_of(c, probe["tcpSocket"]["port"])
                host = probe["tcpSocket"].get("host") or self.ip
                with socket.create_connection((host, port), timeout=timeout):
                    return True, ""
            if "exec" in probe:
                r = subprocess.run(probe["exec"]["command"], env=env, cwd=os.path.join(self.dir, "work"),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=timeout, preexec_fn=self.pdeath)
                return r.returncode == 0, r.stdout.decode("utf-8", "replace")[:200]
            if "httpGet" in probe:
                g = probe["httpGet"]
                port = self.port_of(c, g["port"])
                hc = http.client.HTTPConnection(g.get("host") or self.ip, port, timeout=timeout)
                try:
                    hc.request("GET", g.get("path", "/"))
                    r = hc.getresponse()
                    return 200 <= r.status < 400, "HTTP probe failed with statuscode: %d" % r.status
                finally:
                    hc.close()
        except subprocess.TimeoutExpired:
            return False, "command timed out"
        except OSError as e:
            return False, "dial tcp %s: %s" % (self.ip, e.strerror or e)
        return True, ""

    def port_of(self, c, port):
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports", []) or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise OSError(0, "unknown named port %s" % port)

    # -- lifecycle
    def run(self):
        try:
            self.lifecycle()
        except Exception as e:
            log("pod lifecycle crashed", pod=self.key, err=repr(e))
        finally:
            self.k.release(self)

    def wait_or_deleted(self, seconds):
        """Sleep; True when deletion was requested meanwhile."""
        return self.deleting.wait(seconds)

    def lifecycle(self):
        self.ip = self.k.alloc_ip(self)
        self.start_time = now()
        self.gpus = self.k.alloc_gpus(self)
        self.push_status()
        # images
        for c in self.containers:
            image = c.spec.get("image", "")
            backoff = self.k.pull_backoff
            while True:
                if self.deleting.is_set() or self.k.lost:
                    return self.finish_delete()
                self.event("Pulling", 'Pulling image "%s"' % image, container=c.name)
                t0 = time.monotonic()
                if self.k.pull_delay and self.wait_or_deleted(self.k.pull_delay):
                    return self.finish_delete()
                if image_present(image):
                    self.event("Pulled", 'Successfully pulled image "%s" in %.3fs (%.3fs including waiting). Image size: 123456789 bytes.'
                               % (image, time.monotonic() - t0, time.monotonic() - t0), container=c.name)
                    break
                ref = image if ("/" in image.split(":")[0] or "." in image.split("/")[0]) else "docker.io/library/" + image
                msg = ('Failed to pull image "%s": rpc error: code = NotFound desc = failed to pull and unpack image '
                       '"%s": failed to resolve reference "%s": %s: not found' % (image, ref, ref, ref))
                self.event("Failed", msg, "Warning", container=c.name)
                self.event("Failed", "Error: ErrImagePull", "Warning", container=c.name)
                c.state = {"waiting": {"reason": "ErrImagePull", "message": msg[len('Failed to pull image "%s": ' % image):]}}
                self.push_status()
                if self.wait_or_deleted(min(2.0, backoff)):
                    return self.finish_delete()
                bmsg = 'Back-off pulling image "%s"' % image
                self.event("BackOff", bmsg, "Normal", container=c.name)
                self.event("Failed", "Error: ImagePullBackOff", "Warning", container=c.name)
                c.state = {"waiting": {"reason": "ImagePullBackOff", "message": bmsg}}
                self.push_status()
                if self.wait_or_deleted(backoff):
                    return self.finish_delete()
                backoff = min(backoff * 2, 300)
        if self.k.start_delay and self.wait_or_deleted(self.k.start_delay):
            return self.finish_delete()
        # create + start
        envs = {}
        for c in self.containers:
            while True:
                if self.deleting.is_set() or self.k.lost:
                    return self.finish_delete()
                try:
                    envs[c.name] = self.container_env(c)
                    break
                except ConfigError as e:
                    self.event("Failed", "Error: %s" % e, "Warning", container=c.name)
                    c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
                    self.push_status()
                    if self.wait_or_deleted(2):
                        return self.finish_delete()
        self.start_all(envs)
        self.supervise(envs)

    def start_all(self, envs):
        for c in self.containers:
            self.start_one(c, envs[c.name])
        self.update_phase()
        self.push_status()

    def start_one(self, c, env):
        self.event("Created", "Created container: %s" % c.name, container=c.name)
        try:
            self.start_container(c, env)
            self.event("Started", "Started container %s" % c.name, container=c.name)
            c.ready = "readinessProbe" not in c.spec
            c.probe_state = {"ok": 0, "fail": 0, "live_fail": 0, "next": time.monotonic() +
                             (c.spec.get("readinessProbe") or {}).get("initialDelaySeconds", 0),
                             "live_next": time.monotonic() +
                             (c.spec.get("livenessProbe") or {}).get("initialDelaySeconds", 0)}
        except OSError as e:
            msg = ("failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                   "runc create failed: unable to start container process: %s" % e)
            self.event("Failed", "Error: " + msg, "Warning", container=c.name)
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": msg,
                                      "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now()}}
            c.proc = None

    def update_phase(self):
        states = [c.state for c in self.containers]
        if all("terminated" in s for s in states):
            policy = self.obj["spec"].get("restartPolicy", "Always")
            if policy == "Always" or (policy == "OnFailure" and any(s["terminated"]["exitCode"] for s in states)):
                return
            self.phase = "Succeeded" if all(s["terminated"]["exitCode"] == 0 for s in states) else "Failed"
        elif any("running" in s for s in states) or any("terminated" in s for s in states):
            self.phase = "Running"

    def supervise(self, envs):
        policy = self.obj["spec"].get("restartPolicy", "Always")
        oom_flag = os.path.join(self.dir, "oom")
        while True:
            if self.k.lost:
                self.kill_all(0)
                return
            if self.deleting.is_set():
                return self.finish_delete()
            changed = False
            if os.path.exists(oom_flag):
                os.unlink(oom_flag)
                for c in self.containers:
                    if c.proc is not None and c.proc.poll() is None:
                        c.oom = True
                        self.kill_container(c, signal.SIGKILL)
            tnow = time.monotonic()
            for c in self.containers:
                p = c.proc
                if p is None or "running" not in c.state:
                    continue
                rc = p.poll()
                if rc is not None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)  # leftovers of the container's process group
                    except (ProcessLookupError, PermissionError):
                        pass
                    code = rc if rc >= 0 else 128 - rc
                    reason = "OOMKilled" if (c.oom or (rc == -signal.SIGKILL and self.oom_marker(c))) else \
                        ("Completed" if code == 0 else "Error")
                    c.state = {"terminated": {"exitCode": code, "reason": reason,
                                              "startedAt": c.state["running"]["startedAt"], "finishedAt": now(),
                                              "containerID": c.container_id}}
                    c.ready = False
                    changed = True
                    log("container exited", pod=self.key, container=c.name, code=code, reason=reason)
                    if policy == "Always" or (policy == "OnFailure" and code != 0):
                        c.last_state = c.state
                        c.restart_count += 1
                        c.oom = False
                        self.event("BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)"
                                   % (c.name, self.name, self.ns, self.uid), "Warning", container=c.name)
                        c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                               "message": "back-off 1s restarting failed container=%s pod=%s_%s(%s)"
                                               % (c.name, self.name, self.ns, self.uid)}}
                        self.push_status()
                        if self.wait_or_deleted(1):
                            return self.finish_delete()
                        self.start_one(c, envs[c.name])
                    continue
                changed |= self.run_probes(c, envs[c.name], tnow)
            if changed:
                self.update_phase()
                self.push_status()
            if self.phase in ("Succeeded", "Failed"):
                self.done = True
                self.k.free_gpus(self)
                self.deleting.wait()
                return self.finish_delete()
            self.deleting.wait(0.1)

    def oom_marker(self, c):
        return os.path.exists(os.path.join(self.dir, c.name + ".oom"))

    def run_probes(self, c, env, tnow):
        changed = False
        st = c.probe_state
        rp = c.spec.get("readinessProbe")
        if rp and tnow >= st["next"]:
            st["next"] = tnow + rp.get("periodSeconds", 10)
            ok, why = self.probe_ok(c, rp, env)
            if ok:
                st["ok"] += 1
                st["fail"] = 0
                if not c.ready and st["ok"] >= rp.get("successThreshold", 1):
                    c.ready = changed = True
            else:
                st["fail"] += 1
                st["ok"] = 0
                if c.ready and st["fail"] >= rp.get("failureThreshold", 3):
                    c.ready = False
                    changed = True
                if st["fail"] == 1 or st["fail"] % 10 == 0:
                    self.event("Unhealthy", "Readiness probe failed: %s" % why, "Warning", container=c.name)
        lp = c.spec.get("livenessProbe")
        if lp and tnow >= st["live_next"]:
            st["live_next"] = tnow + lp.get("periodSeconds", 10)
            ok, why = self.probe_ok(c, lp, env)
            if ok:
                st["live_fail"] = 0
            else:
                st["live_fail"] += 1
                self.event("Unhealthy", "Liveness probe failed: %s" % why, "Warning", container=c.name)
                if st["live_fail"] >= lp.get("failureThreshold", 3):
                    self.event("Killing", "Container %s failed liveness probe, will be restarted" % c.name,
                               container=c.name)
                    self.kill_container(c, signal.SIGTERM)
                    st["live_fail"] = 0
        return changed

    def finish_delete(self):
        """Graceful deletion: stop processes, report, then remove the pod object."""
        if self.k.lost:
            self.kill_all(0)
            return
        grace = self.grace if self.grace is not None else \
            self.obj["spec"].get("terminationGracePeriodSeconds", 30)
        self.kill_all(grace)
        if self.gone.is_set():
            return
        with self.lock:
            for c in self.containers:
                if "terminated" in c.state:
                    continue
                if c.proc is not None:
                    rc = c.proc.returncode
                    code = rc if rc >= 0 else 128 - rc
                    c.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                              "startedAt": c.state.get("running", {}).get("startedAt", now()),
                                              "finishedAt": now(), "containerID": c.container_id}}
                c.ready = False
            if self.phase not in ("Succeeded", "Failed") and any(c.proc is not None for c in self.containers):
                self.phase = "Succeeded" if all(c.state.get("terminated", {}).get("exitCode", 1) == 0
                                                for c in self.containers) else "Failed"
        self.push_status()
        try:
            self.api.delete(self.path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                        "preconditions": {"uid": self.uid}})
            log("deleted pod", pod=self.key)
        except ApiError as e:
            if e.status not in (404, 409):
                log("delete failed", pod=self.key, err=e)
        self.gone.set()


# --------------------------------------------------------------------------------------------
# log endpoint (what the apiserver's pods/log proxies to)


class LogHandler(http.server.BaseHTTPRequestHandler):
    kubelet = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_text(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path in ("/healthz", "/"):
            return self.send_text(200, "ok")
        parts = u.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self.send_text(404, "not found")
        ns, name, cname = parts[1:]
        pod = self.kubelet.find_pod(ns, name)
        path = os.path.join(self.kubelet.state_dir, "pods", "%s_%s" % (ns, name), cname + ".log")
        if q.get("previous", ["false"])[0] == "true":
            path += ".previous"
        if not os.path.exists(path):
            return self.send_text(404, 'container "%s" in pod "%s" is waiting to start' % (cname, name))
        with open(path, "rb") as f:
            data = f.read()
        if "tailLines" in q:
            n = int(q["tailLines"][0])
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-n:]) if n > 0 else b""
        if "limitBytes" in q:
            data = data[:int(q["limitBytes"][0])]
        follow = q.get("follow", ["false"])[0] == "true"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(b):
            if b:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
                self.wfile.flush()
        try:
            chunk(data)
            if follow:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    while True:
                        b = f.read(65536)
                        if b:
                            chunk(b)
                            continue
                        c = pod and next((c for c in pod.containers if c.name == cname), None)
                        if not c or c.proc is None or c.proc.poll() is not None or self.kubelet.stopping:
                            break
                        time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


# --------------------------------------------------------------------------------------------
# the kubelet


class Kubelet:
    def __init__(self, a):
        self.api = Api(a.kubeconfig, a.server, a.token, a.ca)
        self.node = a.node
        self.gpus = a.gpus
        self.repo = os.path.abspath(a.repo)
        self.state_dir = os.path.abspath(a.state_dir or tempfile.mkdtemp(prefix="cnote-kubelet-"))
        os.makedirs(os.path.join(self.state_dir, "pods"), exist_ok=True)
        self.pull_delay = a.pull_delay
        self.pull_backoff = a.pull_backoff
        self.start_delay = a.start_delay
        self.heartbeat = a.heartbeat
        self.resources = dict(r.split("=", 1) for r in a.resource)
        self.labels = dict(l.split("=", 1) for l in a.label)
        self.pods = {}                # uid -> Pod
        self.finished = set()         # uids whose pod object this kubelet already removed
        self.lock = threading.Lock()
        self.ips = {}                 # ip -> uid
        self.gpu_free = list(range(self.gpus))
        self.procs = []
        self.lost = False
        self.stopping = False
        self.stop_event = threading.Event()
        self.octet2 = a.ip_octet if a.ip_octet else 10 + zlib.crc32(self.node.encode()) % 200
        self.next_ip = 2
        self.tls_cert, self.tls_key = a.tls_cert, a.tls_key
        self.port = a.port

    # -- resources
    def alloc_ip(self, pod):
        with self.lock:
            while True:
                n = self.next_ip
                self.next_ip = self.next_ip + 1 if self.next_ip < 65533 else 2
                ip = "127.%d.%d.%d" % (self.octet2, n >> 8, n & 0xff)
                if (n & 0xff) in (0, 255) or ip in self.ips:
                    continue
                self.ips[ip] = pod.uid
                return ip

    def alloc_gpus(self, pod):
        want = 0
        for c in pod.containers:
            lim = (c.spec.get("resources") or {}).get("limits") or {}
            want += quantity_int(lim.get("nvidia.com/gpu", 0))
        with self.lock:
            got, self.gpu_free = self.gpu_free[:want], self.gpu_free[want:]
        return got

    def free_gpus(self, pod):
        with self.lock:
            self.gpu_free.extend(pod.gpus)
            self.gpu_free.sort()
            pod.gpus = []

    def release(self, pod):
        self.free_gpus(pod)
        with self.lock:
            if pod.ip and self.ips.get(pod.ip) == pod.uid:
                del self.ips[pod.ip]
            if self.pods.get(pod.uid) is pod and pod.gone.is_set():
                del self.pods[pod.uid]
                self.finished.add(pod.uid)

    def register_proc(self, p):
        with self.lock:
            self.procs = [q for q in self.procs if q.poll() is None] + [p]

    def find_pod(self, ns, name):
        with self.lock:
            for p in self.pods.values():
                if p.ns == ns and p.name == name:
                    return p
        return None

    # -- node
    def node_status(self):
        cap = {"cpu": "16", "memory": "64Gi", "pods": "500", "ephemeral-storage": "100Gi"}
        if self.gpus:
            cap["nvidia.com/gpu"] = str(self.gpus)
        cap.update(self.resources)
        ts = now()
        conds = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": ts,
                  "lastTransitionTime": self.started_at}
                 for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                                 ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                 ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                      "message": "kubelet is posting ready status", "lastHeartbeatTime": ts,
                      "lastTransitionTime": self.started_at})
        return {"status": {
            "capacity": cap, "allocatable": cap, "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {"machineID": "cnote", "systemUUID": "cnote", "bootID": "cnote",
                         "kernelVersion": os.uname().release, "osImage": "cnote process kubelet",
                         "containerRuntimeVersion": "process://1.0", "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        }}

    def register(self):
        self.started_at = now()
        labels = {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "type": "process-kubelet"}
        if self.gpus:
            labels["nvidia.com/gpu.present"] = "true"
        labels.update(self.labels)
        try:
            self.api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                            "metadata": {"name": self.node, "labels": labels}, "spec": {}})
        except ApiError as e:
            if e.status != 409:
                raise
            self.api.patch("/api/v1/nodes/" + self.node, {"metadata": {"labels": labels}})
        # The TaintNodesByCondition admission plugin gives every new node the taint
        # node.kubernetes.io/not-ready:NoSchedule; kube-controller-manager's node lifecycle
        # controller (absent from the test cluster) lifts it once the node is Ready. Do that here.
        node = self.api.get("/api/v1/nodes/" + self.node)
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if t.get("key") not in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
        self.api.patch("/api/v1/nodes/" + self.node, {"spec": {"taints": taints or None}})
        self.api.patch("/api/v1/nodes/%s/status" % self.node, self.node_status())
        log("node registered", node=self.node, gpus=self.gpus, port=self.port)

    def renew_lease(self):
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + self.node
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": 40, "renewTime": now_micro()}
        try:
            self.api.patch(path, {"spec": spec})
        except ApiError as e:
            if e.status != 404:
                raise
            self.api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                          {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": self.node, "namespace": "kube-node-lease"}, "spec": spec})

    def heartbeat_loop(self):
        flag = os.path.join(self.state_dir, "node-lost")
        while not self.stop_event.wait(self.heartbeat):
            if os.path.exists(flag):
                self.lose_node()
            if self.lost:
                continue
            try:
                self.api.patch("/api/v1/nodes/%s/status" % self.node, self.node_status())
                self.renew_lease()
            except Exception as e:
                log("heartbeat failed", err=e)

    def lose_node(self, *_):
        if not self.lost:
            log("node lost: stopping heartbeats and killing pods silently")
            self.lost = True
            self.kill_children()

    # -- pods
    def handle(self, etype, pod):
        uid = pod["metadata"]["uid"]
        with self.lock:
            p = self.pods.get(uid)
            if p is None and uid in self.finished:
                return
        if etype == "DELETED":
            if p:
                p.gone.set()
                p.grace = 0
                p.deleting.set()
            return
        if p is None:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                if pod["metadata"].get("deletionTimestamp"):
                    self.delete_now(pod)
                return
            p = Pod(self, pod)
            with self.lock:
                self.pods[uid] = p
            if phase == "Running":
                # a pod this kubelet ran before it restarted: its processes are gone
                p.thread = threading.Thread(target=self.lost_container, args=(p,), daemon=True)
            p.thread.start()
        else:
            p.obj["metadata"] = pod["metadata"]
            p.obj.setdefault("status", {})["conditions"] = (pod.get("status") or {}).get("conditions", [])
        if pod["metadata"].get("deletionTimestamp") and not p.deleting.is_set():
            p.grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
            p.deleting.set()

    def lost_container(self, p):
        for c in p.containers:
            c.state = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                      "message": "The container could not be located when the pod was terminated",
                                      "startedAt": None, "finishedAt": now()}}
        p.phase = "Failed"
        p.push_status()
        p.deleting.wait()
        p.finish_delete()
        self.release(p)

    def delete_now(self, pod):
        md = pod["metadata"]
        try:
            self.api.delete("/api/v1/namespaces/%s/pods/%s" % (md["namespace"], md["name"]),
                            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                             "preconditions": {"uid": md["uid"]}})
        except ApiError:
            pass

    def watch_loop(self):
        sel = urllib.parse.quote("spec.nodeName=" + self.node)
        base = "/api/v1/pods?fieldSelector=" + sel
        while not self.stop_event.is_set():
            if self.lost:
                self.stop_event.wait(1)
                continue
            try:
                lst = self.api.get(base)
                rv = lst["metadata"]["resourceVersion"]
                seen = set()
                for pod in lst.get("items", []):
                    seen.add(pod["metadata"]["uid"])
                    self.handle("ADDED", pod)
                with self.lock:
                    vanished = [p for uid, p in self.pods.items() if uid not in seen]
                for p in vanished:
                    self.handle("DELETED", p.obj)
                while not self.stop_event.is_set() and not self.lost:
                    path = "%s&watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=300" % (base, rv)
                    for ev in self.api.watch(path):
                        if self.lost or self.stop_event.is_set():
                            break
                        t, obj = ev.get("type"), ev.get("object", {})
                        if t == "ERROR":
                            raise ApiError(obj.get("code", 500), json.dumps(obj))
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if t in ("ADDED", "MODIFIED", "DELETED"):
                            self.handle(t, obj)
            except Exception as e:
                if not self.stop_event.is_set():
                    log("watch restarting", err=e)
                    self.stop_event.wait(0.5)

    # -- children
    def kill_children(self):
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass

    def serve_logs(self):
        if not (self.tls_cert and self.tls_key):
            d = os.path.join(self.state_dir, "tls")
            os.makedirs(d, exist_ok=True)
            self.tls_cert, self.tls_key = os.path.join(d, "kubelet.crt"), os.path.join(d, "kubelet.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                            "-subj", "/CN=" + self.node, "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", self.tls_key, "-out", self.tls_cert],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        LogHandler.kubelet = self
        srv = TLSServer(("127.0.0.1", self.port), LogHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self.port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True, name="logs").start()
        return srv

    def run(self):
        self.serve_logs()
        self.register()
        self.renew_lease()
        threading.Thread(target=self.heartbeat_loop, daemon=True, name="heartbeat").start()
        threading.Thread(target=self.watch_loop, daemon=True, name="watch").start()
        self.stop_event.wait()

    def shutdown(self, *_):
        if not self.stopping:
            self.stopping = True
            self.stop_event.set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", help="kubeconfig with a token or client cert (admin rights)")
    ap.add_argument("--server", help="apiserver URL (overrides the kubeconfig)")
    ap.add_argument("--token", help="bearer token (overrides the kubeconfig)")
    ap.add_argument("--ca", help="CA file for the apiserver")
    ap.add_argument("--node", default="cnote-node-1")
    ap.add_argument("--gpus", type=int, default=2, help="nvidia.com/gpu capacity (default 2)")
    ap.add_argument("--resource", action="append", default=[], metavar="NAME=QTY",
                    help="extra capacity, e.g. nvidia.com/mig-1g.10gb=7 or cpu=4 (repeatable)")
    ap.add_argument("--label", action="append", default=[], metavar="K=V", help="extra node label (repeatable)")
    ap.add_argument("--repo", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                    help="cnote checkout; <repo>/build/bin is put first on the pods' PATH")
    ap.add_argument("--state-dir", help="per-pod dirs and logs (default: a temp dir)")
    ap.add_argument("--pull-delay", type=float, default=0.0, help="seconds every image pull takes")
    ap.add_argument("--pull-backoff", type=float, default=5.0, help="first ImagePullBackOff delay (doubles)")
    ap.add_argument("--start-delay", type=float, default=0.0, help="seconds between pull and container start")
    ap.add_argument("--heartbeat", type=float, default=10.0, help="node status / lease period in seconds")
    ap.add_argument("--ip-octet", type=int, default=0, help="second octet of pod IPs 127.N.x.y (default from node name)")
    ap.add_argument("--port", type=int, default=0, help="kubelet HTTPS (logs) port on 127.0.0.1 (default: free)")
    ap.add_argument("--tls-cert", help="serving cert for the log endpoint (default: self-signed)")
    ap.add_argument("--tls-key")
    a = ap.parse_args()
    k = Kubelet(a)
    signal.signal(signal.SIGTERM, k.shutdown)
    signal.signal(signal.SIGINT, k.shutdown)
    signal.signal(signal.SIGUSR1, k.lose_node)
    try:
        k.run()
    finally:
        k.stopping = True
        k.kill_children()
        log("stopped", node=k.node)


if __name__ == "__main__":
    main()
