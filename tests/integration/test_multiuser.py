"""Many users on one cnote-server (issue 8): accounts made with `cnote-server user ...`, API
tokens per user, password login with throttling, per-user notebook roots, kernels, sessions
and WebSockets owned by who started them, the admin REST API, quotas, the audit log.

The authorization matrix: two users (alice, bob) and an admin try every REST route and the
kernel WebSocket against alice's kernel, session and files, including id guessing and path
tricks; the expected status is asserted for every cell.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from server_fixture import SERVER_BIN, start_cnote
import wsclient

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "root": "root-pw-3"}


def cli(data: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SERVER_BIN, "user", *args, "--data-dir", data], input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def mu():
    data = tempfile.mkdtemp(prefix="cnote-mu-data-")
    root = tempfile.mkdtemp(prefix="cnote-mu-root-")
    for name in ("alice", "bob", "root"):
        extra = ["--admin"] if name == "root" else []
        r = cli(data, "add", name, *extra, "--password-stdin", stdin=PASSWORDS[name] + "\n")
        assert r.returncode == 0, r.stderr
    tokens = {}
    for name in ("alice", "bob", "root"):
        r = cli(data, "token", name, "--note", "tests")
        assert r.returncode == 0, r.stderr
        tokens[name] = r.stdout.strip()
        assert tokens[name].startswith("cnote_")
    srv = start_cnote(root, "unused-shared-token", "--data-dir", data)
    yield {"srv": srv, "tokens": tokens, "data": data, "root": root}
    srv.stop()


def call(mu, who: str | None, method: str, path: str, **kw) -> requests.Response:
    h = {"Authorization": f"token {mu['tokens'][who]}"} if who else {}
    h.update(kw.pop("headers", {}))
    return requests.request(method, mu["srv"].url + path, headers=h, timeout=60,
                            allow_redirects=False, **kw)


@pytest.fixture(scope="module")
def alice_things(mu):
    r = call(mu, "alice", "PUT", "api/contents/secret.txt",
             json={"type": "file", "format": "text", "content": "alice's secret"})
    assert r.status_code == 201, r.text
    r = call(mu, "alice", "POST", "api/kernels", json={"name": "cnote"})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    r = call(mu, "alice", "POST", "api/sessions",
             json={"path": "a.ipynb", "type": "notebook", "name": "a.ipynb",
                   "kernel": {"name": "cnote"}})
    assert r.status_code == 201, r.text
    return {"kernel": kid, "session": r.json()["id"], "session_kernel": r.json()["kernel"]["id"]}


def test_shared_token_does_not_work_in_multi_user_mode(mu):
    r = requests.get(mu["srv"].url + "api/kernels",
                     headers={"Authorization": "token unused-shared-token"}, timeout=30)
    assert r.status_code == 403
    assert requests.get(mu["srv"].url + "api/kernels", timeout=30).status_code == 403


def test_identity(mu):
    for who in ("alice", "root"):
        me = call(mu, who, "GET", "api/me").json()["identity"]
        assert me["username"] == who
        assert me["admin"] is (who == "root")


def test_authorization_matrix(mu, alice_things):
    k, s = alice_things["kernel"], alice_things["session"]
    ghost = str(uuid.uuid4())
    # (method, path, body, {actor: expected status})
    cells = [
        ("GET", f"api/kernels/{k}", None, {"alice": 200, "bob": 404, "root": 200, None: 403}),
        ("GET", f"api/kernels/{k}/progress", None, {"alice": 200, "bob": 404, "root": 200}),
        ("POST", f"api/kernels/{k}/interrupt", None, {"alice": 204, "bob": 404, "root": 204,
                                                      None: 403}),
        ("POST", f"api/kernels/{k}/restart", None, {"bob": 404, None: 403}),
        ("DELETE", f"api/kernels/{k}", None, {"bob": 404, None: 403}),
        ("GET", f"api/kernels/{ghost}", None, {"alice": 404, "bob": 404, "root": 404}),
        ("DELETE", f"api/kernels/{ghost}", None, {"alice": 404, "bob": 404}),
        ("GET", f"api/sessions/{s}", None, {"alice": 200, "bob": 404, "root": 200, None: 403}),
        ("PATCH", f"api/sessions/{s}", {"name": "stolen"}, {"bob": 404}),
        ("DELETE", f"api/sessions/{s}", None, {"bob": 404}),
        ("GET", "api/contents/secret.txt", None, {"alice": 200, "bob": 404, "root": 404,
                                                  None: 403}),
        ("GET", "api/contents/../alice/secret.txt", None, {"bob": (400, 404)}),
        ("GET", "api/contents/%2e%2e/alice/secret.txt", None, {"bob": (400, 404)}),
        ("GET", "api/contents/..%2falice%2fsecret.txt", None, {"bob": (400, 404)}),
        ("GET", "files/../alice/secret.txt", None, {"bob": (400, 404)}),
        ("GET", "files/secret.txt", None, {"alice": 200, "bob": 404}),
        ("PUT", "api/contents/../alice/x.txt", {"type": "file", "format": "text",
                                                "content": "x"}, {"bob": (400, 404)}),
        ("GET", "api/admin/users", None, {"alice": 403, "bob": 403, "root": 200, None: 403}),
        ("POST", "api/admin/users", {"name": "mallory"}, {"alice": 403, "bob": 403}),
        ("GET", "api/admin/kernels", None, {"bob": 403, "root": 200}),
        ("DELETE", f"api/admin/kernels/{k}", None, {"bob": 403}),
        ("GET", "api/admin/audit", None, {"alice": 403, "root": 200}),
        ("PUT", "api/admin/users/bob/quota", {"max_kernels": 99}, {"bob": 403}),
        ("GET", "api/admin/users/alice/tokens", None, {"bob": 403, "root": 200}),
        ("GET", f"api/kernels/{k}/log", None, {"bob": 404}),
        ("GET", "api/contents/secret.txt/checkpoints", None, {"alice": 200, "bob": 404}),
        ("POST", "api/contents/secret.txt/checkpoints", None, {"bob": 404}),
        ("PATCH", "api/contents/secret.txt", {"path": "mine.txt"}, {"bob": 404}),
        ("DELETE", "api/contents/secret.txt", None, {"bob": 404}),
        ("DELETE", "api/tokens/1", None, {"bob": 404}),
    ]
    failures = []
    for method, path, body, expect in cells:
        for who, want in expect.items():
            r = call(mu, who, method, path, json=body) if body is not None else \
                call(mu, who, method, path)
            ok = r.status_code in want if isinstance(want, tuple) else r.status_code == want
            if not ok:
                failures.append(f"{who or 'anonymous'} {method} {path}: {r.status_code} "
                                f"(expected {want}) {r.text[:120]}")
    assert not failures, "\n".join(failures)
    # the file is really alice's: her content, and not in bob's root
    assert call(mu, "alice", "GET", "api/contents/secret.txt").json()["content"] == \
        "alice's secret"
    assert os.path.exists(os.path.join(mu["root"], "alice", "secret.txt"))
    assert not os.path.exists(os.path.join(mu["root"], "bob", "secret.txt"))
    assert oct(os.stat(os.path.join(mu["root"], "alice")).st_mode & 0o777) == "0o700"


def test_config_sections_are_per_user(mu):
    r = call(mu, "alice", "PATCH", "api/config/notebook", json={"theme": "dark"})
    assert r.status_code == 200, r.text
    assert call(mu, "alice", "GET", "api/config/notebook").json()["theme"] == "dark"
    assert "theme" not in call(mu, "bob", "GET", "api/config/notebook").json()


def test_lists_show_only_ones_own(mu, alice_things):
    mine = {x["id"] for x in call(mu, "alice", "GET", "api/kernels").json()}
    assert alice_things["kernel"] in mine
    assert alice_things["kernel"] not in {x["id"] for x in call(mu, "bob", "GET",
                                                                 "api/kernels").json()}
    assert alice_things["session"] not in {x["id"] for x in call(mu, "bob", "GET",
                                                                  "api/sessions").json()}
    # bob asking for a session bound to alice's kernel gets a kernel of his own
    r = call(mu, "bob", "POST", "api/sessions",
             json={"path": "a.ipynb", "type": "notebook", "name": "a.ipynb",
                   "kernel": {"id": alice_things["kernel"]}})
    assert r.status_code == 201, r.text
    assert r.json()["kernel"]["id"] != alice_things["kernel"]
    assert r.json()["id"] != alice_things["session"]  # same path, another user's session
    # PATCHing his session onto alice's kernel: no such kernel
    r2 = call(mu, "bob", "PATCH", f"api/sessions/{r.json()['id']}",
              json={"kernel": {"id": alice_things["kernel"]}})
    assert r2.status_code == 400, r2.text
    # the admin sees everyone's kernels with their owners
    ks = call(mu, "root", "GET", "api/admin/kernels").json()
    owners = {x["id"]: x["owner"] for x in ks}
    assert owners[alice_things["kernel"]] == "alice"
    assert owners[r.json()["kernel"]["id"]] == "bob"
    assert call(mu, "bob", "DELETE", f"api/sessions/{r.json()['id']}").status_code == 204


def test_websocket_belongs_to_the_owner(mu, alice_things):
    k = alice_things["kernel"]
    with pytest.raises(wsclient.HandshakeError) as e:
        wsclient.connect(mu["srv"].url, k, token=mu["tokens"]["bob"])
    assert e.value.status == 404
    for who in ("alice", "root"):
        ws = wsclient.connect(mu["srv"].url, k, token=mu["tokens"][who])
        req = ws.request("kernel_info_request", {})
        assert ws.reply_to(req)["content"]["status"] == "ok"
        ws.ws.close()


def test_password_login_cookie_and_throttling(mu):
    url = mu["srv"].url
    s = requests.Session()
    page = s.get(url + "login", timeout=30)
    assert 'name="username"' in page.text
    xsrf = s.cookies.get("_xsrf")
    r = s.post(url + "login", data={"username": "alice", "password": PASSWORDS["alice"],
                                    "_xsrf": xsrf, "next": "/"}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 302, r.text
    me = s.get(url + "api/me", timeout=30).json()["identity"]
    assert me["username"] == "alice"
    # wrong passwords: 401, then 429 with Retry-After once throttled
    t = requests.Session()
    t.get(url + "login", timeout=30)
    codes = []
    for _ in range(7):
        r = t.post(url + "login", data={"username": "bob", "password": "wrong",
                                        "_xsrf": t.cookies.get("_xsrf")},
                   allow_redirects=False, timeout=30)
        codes.append(r.status_code)
    assert codes[0] == 401 and 429 in codes, codes
    assert int(r.headers.get("Retry-After", "0")) >= 1 or codes[-1] == 401
    # an unknown user gets the same answer as a wrong password
    r = t.post(url + "login", data={"username": "nobody", "password": "x",
                                    "_xsrf": t.cookies.get("_xsrf")},
               allow_redirects=False, timeout=30)
    assert r.status_code in (401, 429)
    audit = call(mu, "root", "GET", "api/admin/audit?limit=50").json()
    actions = [a["action"] for a in audit]
    assert "login" in actions and ("login_failed" in actions or "login_throttled" in actions)


def test_tokens_are_listable_revocable_and_expire(mu):
    r = call(mu, "bob", "POST", "api/tokens", json={"note": "laptop", "expires_in": 6})
    assert r.status_code == 201, r.text
    tok, tid = r.json()["token"], r.json()["id"]
    listed = call(mu, "bob", "GET", "api/tokens").json()
    assert any(t["id"] == tid and t["note"] == "laptop" for t in listed)
    assert all("token" not in t for t in listed)
    h = {"Authorization": f"token {tok}"}
    assert requests.get(mu["srv"].url + "api/kernels", headers=h, timeout=30).status_code == 200
    time.sleep(6.5)
    assert requests.get(mu["srv"].url + "api/kernels", headers=h, timeout=30).status_code == 403
    r = call(mu, "bob", "POST", "api/tokens", json={"note": "revoke me"})
    tok2, tid2 = r.json()["token"], r.json()["id"]
    # alice cannot revoke bob's token; bob can
    assert call(mu, "alice", "DELETE", f"api/tokens/{tid2}").status_code == 404
    assert call(mu, "bob", "DELETE", f"api/tokens/{tid2}").status_code == 204
    assert requests.get(mu["srv"].url + "api/kernels", headers={"Authorization": f"token {tok2}"},
                        timeout=30).status_code == 403
    # tokens are stored hashed
    with open(os.path.join(mu["data"], "users.db"), "rb") as f:
        assert tok2.encode() not in f.read()


def test_quota_refuses_with_the_limit_named(mu):
    r = call(mu, "root", "PUT", "api/admin/users/bob/quota", json={"max_kernels": 1})
    assert r.status_code == 200, r.text
    ks = [k["id"] for k in call(mu, "bob", "GET", "api/kernels").json()]
    for kid in ks:
        call(mu, "bob", "DELETE", f"api/kernels/{kid}")
    r = call(mu, "bob", "POST", "api/kernels", json={"name": "cnote"})
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    r = call(mu, "bob", "POST", "api/kernels", json={"name": "cnote"})
    assert r.status_code == 403, r.text
    assert "at most 1 kernel" in r.json()["message"]
    r = call(mu, "bob", "POST", "api/sessions", json={"path": "q.ipynb", "type": "notebook",
                                                      "kernel": {"name": "cnote"}})
    assert r.status_code == 403
    assert call(mu, "bob", "DELETE", f"api/kernels/{first}").status_code == 204
    r = call(mu, "bob", "POST", "api/kernels", json={"name": "cnote"})
    assert r.status_code == 201
    call(mu, "bob", "DELETE", f"api/kernels/{r.json()['id']}")
    call(mu, "root", "PUT", "api/admin/users/bob/quota", json={"max_kernels": None})


def test_admin_manages_users_and_kernels(mu):
    srv = mu["srv"]
    r = call(mu, "root", "POST", "api/admin/users", json={"name": "carol", "password": "c-pw"})
    assert r.status_code == 201, r.text
    assert call(mu, "root", "POST", "api/admin/users", json={"name": "carol"}).status_code == 409
    assert call(mu, "root", "POST", "api/admin/users",
                json={"name": "Bad Name!"}).status_code == 400
    r = call(mu, "root", "POST", "api/admin/users/carol/tokens", json={"note": "ci"})
    assert r.status_code == 201
    carol = r.json()["token"]
    # spawn a kernel for carol ahead of time: it is hers
    r = call(mu, "root", "POST", "api/admin/users/carol/kernels", json={})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    ks = requests.get(srv.url + "api/kernels", headers={"Authorization": f"token {carol}"},
                      timeout=30).json()
    assert [k["id"] for k in ks] == [kid]
    users = {u["name"]: u for u in call(mu, "root", "GET", "api/admin/users").json()}
    assert users["carol"]["kernels"] == 1 and users["root"]["admin"] is True
    # stop all of carol's kernels, then delete her
    assert call(mu, "root", "DELETE", "api/admin/users/carol/kernels").status_code == 204
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and call(mu, "root", "GET",
                                               "api/admin/users/carol").json()["kernels"]:
        time.sleep(0.2)
    assert call(mu, "root", "GET", "api/admin/users/carol").json()["kernels"] == 0
    assert call(mu, "root", "DELETE", "api/admin/users/carol").status_code == 204
    assert requests.get(srv.url + "api/kernels", headers={"Authorization": f"token {carol}"},
                        timeout=30).status_code == 403
    # an admin cannot remove their own admin role or delete themselves
    assert call(mu, "root", "PATCH", "api/admin/users/root",
                json={"admin": False}).status_code == 400
    assert call(mu, "root", "DELETE", "api/admin/users/root").status_code == 400
    actions = [a["action"] for a in call(mu, "root", "GET", "api/admin/audit").json()]
    for a in ("user_add", "token_new", "kernel_spawn", "kernels_stop_all", "user_delete"):
        assert a in actions, actions


def test_cli_lists_users(mu):
    r = cli(mu["data"], "list")
    assert r.returncode == 0
    for name in ("alice", "bob", "root"):
        assert name in r.stdout
    assert cli(mu["data"], "add", "Not Valid").returncode != 0


# ---- isolation against cells: each user's local kernels run under an account of their own ----

PROBE = r'''
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static const char *try_open(const char *path) {
    FILE *f = fopen(path, "r");
    if (f) { fclose(f); return "OPENED"; }
    return strerror(errno);
}
static const char *try_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    return rc == 0 ? "CONNECTED" : strerror(e);
}
'''


@pytest.fixture(scope="module")
def iso():
    """A server whose kernelspec points at copies of the kernel binaries in a world-readable
    directory (the users' accounts must be able to run them wherever the checkout lives)."""
    if os.geteuid() != 0:
        pytest.fail("isolation of local kernels needs root (CI runs as root)")
    import shutil
    base = tempfile.mkdtemp(prefix="cnote-mu-iso-")
    os.chmod(base, 0o755)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shutil.copytree(os.path.join(here, "build", "bin"), os.path.join(base, "bin"))
    shutil.copytree(os.path.join(here, "build", "share", "cnote"),
                    os.path.join(base, "share", "cnote"))
    ks = os.path.join(base, "kernels", "kernels", "cnote")
    os.makedirs(ks)
    with open(os.path.join(ks, "kernel.json"), "w") as f:
        json.dump({"argv": [os.path.join(base, "bin", "cnote-kernel"), "-f",
                            "{connection_file}"], "display_name": "C (cnote)",
                   "language": "c", "interrupt_mode": "message"}, f)
    for dirpath, dirs, files in os.walk(base):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
    data = tempfile.mkdtemp(prefix="cnote-mu-isodata-")
    root = tempfile.mkdtemp(prefix="cnote-mu-isoroot-")
    runtime = tempfile.mkdtemp(prefix="cnote-mu-users-")  # the users' kernel directories
    os.chmod(runtime, 0o711)
    tokens = {}
    for name in ("ann", "ben"):
        assert cli(data, "add", name).returncode == 0
        tokens[name] = cli(data, "token", name).stdout.strip()
    srv = start_cnote(root, "unused", "--data-dir", data, "--user-runtime-dir", runtime,
                      env={"JUPYTER_PATH": os.path.join(base, "kernels")})
    yield {"srv": srv, "tokens": tokens, "root": root, "runtime": runtime}
    srv.stop()


def run_cell(srv, token, kid, code, timeout=60):
    ws = wsclient.connect(srv.url, kid, token=token)
    try:
        req = ws.request("execute_request", {"code": code, "silent": False,
                                             "store_history": True, "user_expressions": {},
                                             "allow_stdin": False, "stop_on_error": True})
        got = ws.until_idle(req, timeout=timeout)
        out = "".join(m["content"].get("text", "") for m in got if m.msg_type == "stream")
        reply = next(m for m in got if m.msg_type == "execute_reply")["content"]
        return out, reply
    finally:
        ws.ws.close()


def test_a_cell_cannot_read_or_reach_another_users_things(iso):
    srv, tok = iso["srv"], iso["tokens"]
    h = {name: {"Authorization": f"token {t}"} for name, t in tok.items()}
    r = requests.put(srv.url + "api/contents/secret.txt", headers=h["ben"], timeout=30,
                     json={"type": "file", "format": "text", "content": "ben's secret"})
    assert r.status_code == 201, r.text
    kids = {}
    for name in ("ann", "ben"):
        r = requests.post(srv.url + "api/kernels", headers=h[name], json={"name": "cnote"},
                          timeout=60)
        assert r.status_code == 201, r.text
        kids[name] = r.json()["id"]
    # ben's kernel works, as ben's account, in his directory, and reads his own file
    out, rep = run_cell(srv, tok["ben"], kids["ben"],
                        '#include <unistd.h>\nprintf("uid=%d\\n", (int)getuid());\n'
                        f'FILE *f = fopen("{iso["root"]}/ben/secret.txt", "r"); char b[64] = {{0}};\n'
                        'if (f) { fgets(b, sizeof b, f); fclose(f); }\nprintf("read=%s\\n", b);')
    assert rep["status"] == "ok", rep
    ben_uid = int(out.split("uid=")[1].split()[0])
    assert ben_uid != 0 and ben_uid != os.geteuid()
    assert "read=ben's secret" in out
    # what ann's cell would need to reach ben's kernel: his files, his connection file (key),
    # his kernel's sockets
    ben_dir = os.path.join(iso["runtime"], f"u{ben_uid}")
    conn = [f for f in os.listdir(ben_dir) if f.startswith("kernel-") and f.endswith(".json")]
    assert conn, os.listdir(ben_dir)
    with open(os.path.join(ben_dir, conn[0])) as f:
        ben_conn = json.load(f)
    assert ben_conn["transport"] == "ipc"
    sock = f"{ben_conn['ip']}-{ben_conn['shell_port']}"
    assert os.path.exists(sock)
    code = PROBE + (
        f'printf("uid=%d\\n", (int)getuid());\n'
        f'printf("file: %s\\n", try_open("{iso["root"]}/ben/secret.txt"));\n'
        f'printf("key: %s\\n", try_open("{ben_dir}/{conn[0]}"));\n'
        f'printf("socket: %s\\n", try_connect("{sock}"));\n'
        f'printf("list: %s\\n", opendir("{ben_dir}") ? "LISTED" : strerror(errno));\n')
    out, rep = run_cell(srv, tok["ann"], kids["ann"], "#include <dirent.h>\n" + code)
    assert rep["status"] == "ok", rep
    ann_uid = int(out.split("uid=")[1].split()[0])
    assert ann_uid not in (0, ben_uid, os.geteuid())
    for what in ("file", "key", "socket", "list"):
        line = next(x for x in out.splitlines() if x.startswith(what + ":"))
        assert "Permission denied" in line, out
    # the notebook file written through the API belongs to ben, 0600-ish, in a 0700 directory
    st = os.stat(os.path.join(iso["root"], "ben", "secret.txt"))
    assert st.st_uid == ben_uid
    assert oct(os.stat(os.path.join(iso["root"], "ben")).st_mode & 0o777) == "0o700"
    for name in ("ann", "ben"):
        requests.delete(srv.url + f"api/kernels/{kids[name]}", headers=h[name], timeout=60)


def test_metrics_for_admins_and_the_metrics_token(mu, alice_things):
    assert call(mu, "alice", "GET", "metrics").status_code == 403
    assert call(mu, None, "GET", "metrics").status_code == 403
    r = call(mu, "root", "GET", "metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    kernels = fams["cnote_kernels"]
    users = {s.labels["user"] for s in kernels.samples}
    assert "alice" in users, text
    assert fams["cnote_users"].samples[0].value >= 3
    assert "cnote_http_errors" in fams  # the 403s above were counted
    codes = {s.labels.get("code") for s in fams["cnote_http_errors"].samples}
    assert "403" in codes
    assert "cnote_websocket_clients" in fams
    assert "cnote_messages_relayed" in fams


def test_metrics_token_and_json_logs_single_user():
    srv = start_cnote(None, "tok", "--metrics-token", "scrape-me", "--log-format", "json")
    try:
        assert requests.get(srv.url + "metrics", timeout=30).status_code == 403
        r = requests.get(srv.url + "metrics", headers={"Authorization": "Bearer scrape-me"},
                         timeout=30)
        assert r.status_code == 200 and "cnote_websocket_clients" in r.text
        r = requests.get(srv.url + "metrics", headers={"Authorization": "token tok"}, timeout=30)
        assert r.status_code == 200
        srv.post("api/kernels", json={"name": "cnote"})
    finally:
        srv.stop()
    log = open(srv.log_path).read()
    lines = [x for x in log.splitlines() if x.startswith("{")]
    assert lines, log[:500]
    objs = [json.loads(x) for x in lines]
    assert all({"time", "level", "component", "message"} <= set(o) for o in objs)
    assert any(o.get("component") == "kmgr" and "kernel_id" in o for o in objs), objs[:5]


def test_a_kernel_spawned_ahead_is_handed_to_its_user(mu):
    """An admin starts a kernel for a user ahead of time; the user's next session gets that
    kernel (ready, no start to wait for), the one after gets a new one."""
    r = call(mu, "root", "POST", "api/admin/users/bob/kernels", json={"name": "cnote"})
    assert r.status_code == 201, r.text
    pre = r.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and \
            call(mu, "bob", "GET", f"api/kernels/{pre}").json()["execution_state"] == "starting":
        time.sleep(0.1)
    r = call(mu, "bob", "POST", "api/sessions", json={"path": "warm.ipynb", "type": "notebook",
                                                      "kernel": {"name": "cnote"}})
    assert r.status_code == 201, r.text
    assert r.json()["kernel"]["id"] == pre
    r2 = call(mu, "bob", "POST", "api/sessions", json={"path": "other.ipynb", "type": "notebook",
                                                       "kernel": {"name": "cnote"}})
    assert r2.status_code == 201, r2.text
    assert r2.json()["kernel"]["id"] != pre
    # alice never gets bob's pre-spawned kernel
    r3 = call(mu, "root", "POST", "api/admin/users/bob/kernels", json={"name": "cnote"})
    pre2 = r3.json()["id"]
    r4 = call(mu, "alice", "POST", "api/kernels", json={"name": "cnote"})
    assert r4.status_code == 201 and r4.json()["id"] != pre2
    for who, sid in (("bob", r.json()["id"]), ("bob", r2.json()["id"])):
        call(mu, who, "DELETE", f"api/sessions/{sid}")
    call(mu, "root", "DELETE", f"api/admin/kernels/{pre2}")
    call(mu, "alice", "DELETE", f"api/kernels/{r4.json()['id']}")


def test_idle_kernels_culled_by_the_users_policy(mu):
    """A user whose quota says max_idle_s 2 loses an idle kernel within seconds; another user's
    idle kernel (default: no idle limit) stays. The admin list shows age and idle time."""
    assert call(mu, "root", "PUT", "api/admin/users/alice/quota",
                json={"max_idle_s": 2}).status_code == 200
    try:
        ra = call(mu, "alice", "POST", "api/kernels", json={"name": "cnote"})
        rb = call(mu, "bob", "POST", "api/kernels", json={"name": "cnote"})
        assert ra.status_code == 201 and rb.status_code == 201
        ka, kb = ra.json()["id"], rb.json()["id"]
        listed = {k["id"]: k for k in call(mu, "root", "GET", "api/admin/kernels").json()}
        assert listed[ka]["age_s"] >= 0 and "idle_s" in listed[ka] and listed[ka]["gpus"] == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and \
                call(mu, "alice", "GET", f"api/kernels/{ka}").status_code == 200:
            time.sleep(0.5)
        assert call(mu, "alice", "GET", f"api/kernels/{ka}").status_code == 404
        assert call(mu, "bob", "GET", f"api/kernels/{kb}").status_code == 200
        audit = call(mu, "root", "GET", "api/admin/audit").json()
        assert any(a["action"] == "kernel_culled" and a["target"] == "alice" for a in audit)
        call(mu, "bob", "DELETE", f"api/kernels/{kb}")
    finally:
        call(mu, "root", "PUT", "api/admin/users/alice/quota", json={"max_idle_s": None})


def test_an_adopted_users_kernel_restarts_under_their_account(iso):
    """After a server restart the user's kernel is adopted; restarting it must drop to the
    user's account again (not run as the server's)."""
    srv0 = iso["srv"]
    a = srv0.proc.args
    data = a[len(a) - 1 - a[::-1].index("--data-dir") + 1]  # the last --data-dir wins
    tok = iso["tokens"]["ann"]
    h = {"Authorization": f"token {tok}"}
    args = ["--data-dir", data, "--user-runtime-dir", iso["runtime"]]
    s1 = start_cnote(iso["root"], "unused", *args, keep_kernels=True,
                     env={"JUPYTER_PATH": srv_kernels_path(srv0)})
    try:
        r = requests.post(s1.url + "api/kernels", headers=h, json={"name": "cnote"}, timeout=60)
        assert r.status_code == 201, r.text
        kid = r.json()["id"]
        out, _ = run_cell(s1, tok, kid, '#include <unistd.h>\nprintf("uid=%d\\n", (int)getuid());')
        uid = int(out.split("uid=")[1].split()[0])
    finally:
        s1.stop()
    s2 = start_cnote(iso["root"], "unused", *args, env={"JUPYTER_PATH": srv_kernels_path(srv0)})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = requests.get(s2.url + f"api/kernels/{kid}", headers=h, timeout=30)
            if m.status_code == 200 and m.json()["execution_state"] in ("idle", "busy"):
                break
            time.sleep(0.2)
        r = requests.post(s2.url + f"api/kernels/{kid}/restart", headers=h, timeout=60)
        assert r.status_code == 200, r.text
        out, _ = run_cell(s2, tok, kid, '#include <unistd.h>\nprintf("uid=%d\\n", (int)getuid());')
        assert f"uid={uid}" in out and uid != 0, out
        requests.delete(s2.url + f"api/kernels/{kid}", headers=h, timeout=60)
    finally:
        s2.stop()


def srv_kernels_path(srv) -> str:
    """The JUPYTER_PATH the isolation fixture's server runs with (its kernelspec copy)."""
    env = open(f"/proc/{srv.proc.pid}/environ", "rb").read().split(b"\0")
    for e in env:
        if e.startswith(b"JUPYTER_PATH="):
            return e.split(b"=", 1)[1].decode()
    return ""
