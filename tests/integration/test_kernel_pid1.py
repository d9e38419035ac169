"""cnote-kernel as a container's PID 1 (a Kubernetes pod whose command is cnote-kernel, the
connection handed over in an environment variable and the pod IP in another): it stays PID 1
as a small init that reaps orphans of cell code (no zombies pile up) and forwards SIGTERM.

The kernel runs in a PID namespace of its own (`unshare --pid --fork --mount-proc`, needs root,
which CI has) with --connection-env / --ip-env as in the pod template.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from harness import ok

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL = os.path.join(ROOT, "build", "bin", "cnote-kernel")

ZOMBIES = r'''
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
static int zombies(void) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && p[2] == 'Z') n++;
        }
        fclose(f);
    }
    if (d) closedir(d);
    return n;
}
'''

ORPHAN = r'''
pid_t c = fork();
if (c == 0) {             /* a child that leaves an orphan behind */
    if (fork() == 0) { usleep(100000); _exit(0); }
    _exit(0);
}
waitpid(c, NULL, 0);
usleep(600000);           /* the orphan has exited by now, reparented to PID 1 */
printf("pid1=%d zombies=%d\n", (int)getppid() > 0 ? 1 : 0, zombies());
'''


@pytest.fixture
def pid1_kernel(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("this test needs root and unshare (CI runs as root)")
    cf, info = write_connection_file(str(tmp_path / "conn.json"), ip="127.0.0.1")
    conn = json.loads(open(cf).read())
    conn["ip"] = "0.0.0.0"  # as in the pod's Secret; --ip-env sets the real address
    env = dict(os.environ, CNOTE_CONNECTION=json.dumps(conn), CNOTE_POD_IP="127.0.0.1")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", KERNEL,
                             "--connection-env", "CNOTE_CONNECTION", "--ip-env", "CNOTE_POD_IP"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    kc = BlockingKernelClient()
    kc.load_connection_file(cf)
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    yield proc, kc
    kc.stop_channels()
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_pid1_reaps_orphans_and_forwards_sigterm(pid1_kernel):
    proc, kc = pid1_kernel
    ok(kc, ZOMBIES)
    res = ok(kc, 'printf("me=%d parent=%d\\n", (int)getpid(), (int)getppid());')
    # the kernel is not PID 1 itself: a small init is, and it is the kernel's parent
    out = "".join(m["content"].get("text", "") for m in res.iopub if m["msg_type"] == "stream")
    assert "parent=" in out
    for _ in range(3):
        res = ok(kc, ORPHAN, timeout=30)
        out = "".join(m["content"].get("text", "") for m in res.iopub
                      if m["msg_type"] == "stream")
        assert "zombies=0" in out, out
    # SIGTERM to PID 1 (what the kubelet sends) reaches the kernel, which exits
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        init = int(f.read().split()[0])  # the namespace's PID 1, as the host sees it
    os.kill(init, signal.SIGTERM)
    t0 = time.monotonic()
    proc.wait(20)
    assert time.monotonic() - t0 < 20
