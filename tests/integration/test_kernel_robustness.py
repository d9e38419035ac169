"""More kernel behaviour through jupyter_client: malformed input on every socket, fd-level
capture of every kind of output, streaming while a cell runs, changed types making globals
stale, main() in a cell, completion and inspection of header names, and `jupyter console`.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time

import pytest

from harness import execute, fails, finish, ok, strip_ansi, value, wait_for_stream


def _alive(kc):
    kc.kernel_info()
    assert kc.get_shell_msg(timeout=10)["msg_type"] == "kernel_info_reply"


@pytest.mark.parametrize("frames", [
    [b"garbage"],
    [b"<IDS|MSG>"],
    [b"<IDS|MSG>", b"", b"{}", b"{}", b"{}"],                      # too few frames
    [b"<IDS|MSG>", b"", b"not json", b"{}", b"{}", b"{}"],
    [b"<IDS|MSG>", b"", b"[1,2]", b"{}", b"{}", b"{}"],           # header not an object
    [b"<IDS|MSG>", b"", b'{"msg_type": 5}', b"{}", b"{}", b"{}"],
    [b"<IDS|MSG>", b"", b"{}", b"{}", b"{}", b"\xff\xfe"],         # not UTF-8
    [b"<IDS|MSG>", b"", b'{"msg_type":"execute_request","msg_id":"x"}', b"{}", b"{}",
     b'{"code": 5}'],
])
def test_malformed_messages_are_dropped(kc, frames):
    """Unsigned or broken messages on shell and control never crash the kernel or get a reply."""
    for sock in (kc.shell_channel.socket, kc.control_channel.socket):
        sock.send_multipart(frames)
    with pytest.raises(queue.Empty):
        kc.shell_channel.get_msg(timeout=0.5)
    _alive(kc)
    assert value(kc, "6 * 7") == "42"


def test_signed_message_with_wrong_content_types_gets_an_error(kc):
    """A correctly signed execute_request whose code is not a string: an error reply, no crash."""
    msg = kc.session.msg("execute_request", {"code": 12, "silent": False})
    kc.shell_channel.send(msg)
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert reply["content"]["status"] == "error"
    _alive(kc)


def test_every_kind_of_output_is_captured_in_order(kc):
    res = ok(kc, '#include <unistd.h>\n'
                 'printf("a");\nputs("b");\nputchar(\'c\');\nfflush(stdout);\n'
                 'write(1, "d\\n", 2);\nfputs("e\\n", stdout);\n'
                 'system("echo f");\n')
    assert res.stdout == "ab\ncd\ne\nf\n"


def test_output_streams_while_the_cell_runs(fresh_kc):
    """A line printed without fflush reaches the client while the cell is still busy."""
    kc = fresh_kc
    flag = f"/tmp/cnote-stream-{os.getpid()}-{time.monotonic_ns()}"
    msg_id = kc.execute('#include <unistd.h>\n'
                        'printf("started\\n");\n'
                        f'while (access("{flag}", F_OK) != 0) usleep(1000);\n'
                        'printf("done\\n");')
    seen = wait_for_stream(kc, msg_id, "started", timeout=30)
    # the cell is provably still running: it waits for the flag file we create only now
    assert not any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in seen)
    open(flag, "w").close()
    try:
        res = finish(kc, msg_id, seen)
    finally:
        os.unlink(flag)
    assert res.status == "ok"
    assert res.stdout == "started\ndone\n"


def test_changed_struct_makes_old_globals_stale(fresh_kc):
    kc = fresh_kc
    ok(kc, "typedef struct { int a; } st_t;\nst_t st_old = {1};\n"
           "int st_get(void) { return st_old.a; }")
    res = ok(kc, "typedef struct { double x, y; } st_t;")
    warn = strip_ansi(res.stderr)
    assert "st_old" in warn and "st_t" in warn, warn
    fails(kc, "st_old", ename="CompileError")       # hidden: it has the old layout
    assert value(kc, "st_t n = {1.5, 2};\nn.x + n.y") == "3.5"


def test_main_in_a_cell_is_called(kc):
    res = ok(kc, 'int main(void) {\n    printf("from main\\n");\n    return 3;\n}')
    assert res.stdout == "from main\n"
    assert "main() returned 3" in res.stderr


def test_static_function_is_visible_later(kc):
    ok(kc, "static int sv_twice(int x) { return 2 * x; }")
    assert value(kc, "sv_twice(21)") == "42"


def test_library_function_completion_and_inspection(kc):
    ok(kc, "#include <math.h>")
    kc.complete("double r = sqr", 14)
    reply = kc.get_shell_msg(timeout=20)["content"]
    assert "sqrt" in reply["matches"], reply["matches"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (11, 14)
    ok(kc, "/* the answer */\nint ins_answer(void) { return 42; }")
    kc.inspect("ins_answer()", 3)
    reply = kc.get_shell_msg(timeout=20)["content"]
    assert reply["found"] is True
    text = reply["data"]["text/plain"]
    assert "int ins_answer(void)" in text and "In[" in text, text


def test_undefined_function_is_a_clear_compile_error(kc):
    res = fails(kc, "no_such_function(1);", ename="CompileError")
    assert "no_such_function" in res.error_text()


def test_interrupt_while_waiting_for_input(fresh_kc):
    """An input request left unanswered: the interrupt ends the cell, the kernel goes on."""
    kc = fresh_kc
    msg_id = kc.execute("char ib[32];\nfgets(ib, sizeof ib, stdin);", allow_stdin=True)
    req = kc.get_stdin_msg(timeout=30)
    assert req["msg_type"] == "input_request"
    kc.control_channel.send(kc.session.msg("interrupt_request", {}))
    res = finish(kc, msg_id, [])
    assert res.status == "error" and res.content["ename"] == "KeyboardInterrupt"
    assert value(kc, "1 + 2") == "3"


def test_jupyter_console_runs_cells():
    """`jupyter console --kernel cnote` (the real one, from the venv) runs cells with state."""
    exe = os.path.join(os.path.dirname(sys.executable), "jupyter")
    out = subprocess.run([exe, "console", "--kernel", "cnote", "--simple-prompt"],
                         input="int cons_a = 20;\ncons_a + 22\n", capture_output=True,
                         text=True, timeout=120)
    assert "Out[2]: 42" in out.stdout, out.stdout + out.stderr


def test_trailing_compound_literal_and_const_pointer(kc):
    ok(kc, "typedef struct { int a, b; } cl_pt;")
    assert value(kc, "(cl_pt){1, 2}") == "<struct: 8 bytes>"
    assert value(kc, "((cl_pt){3, 4}).b") == "4"
    ok(kc, 'const char *const cl_name = "abc";')
    assert value(kc, "cl_name") == '"abc"'


def test_clang_can_compile_the_cells(fresh_kc):
    kc = fresh_kc
    ok(kc, "%cc clang")
    ok(kc, "int cl_x = 5;\nint cl_twice(int a) { return 2 * a; }")
    assert value(kc, "cl_twice(cl_x)") == "10"
    res = fails(kc, "int cl_bad = ;", ename="CompileError")
    assert "In[" in res.error_text()
    ok(kc, "%cc gcc")
    assert value(kc, "cl_twice(cl_x) + 1") == "11"   # gcc cells call clang-compiled code


def test_null_dereference_is_named(kc):
    res = fails(kc, "int *nd_p = 0;\n*nd_p = 1;", ename="SIGSEGV")
    assert "NULL pointer" in res.error_text()


def test_a_state_process_that_dies_at_start_up_is_not_restarted_forever(tmp_path):
    """An executor that cannot start (here a stand-in that exits at once) is restarted a few
    times, then left down: cells fail with KernelStateLost instead of the kernel spawning it in
    a tight loop; %reset tries again, the same bounded number of times."""
    from conftest import KERNEL_NAME, STARTUP_TIMEOUT, stop_kernel
    from jupyter_client.manager import start_new_kernel

    starts = tmp_path / "starts"
    fake = tmp_path / "fake-exec"
    fake.write_text(f"#!/bin/sh\necho started >> '{starts}'\nexit 3\n")
    fake.chmod(0o755)
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=STARTUP_TIMEOUT,
                              env=dict(os.environ, CNOTE_EXEC=str(fake)))
    try:
        count = lambda: len(starts.read_text().splitlines()) if starts.exists() else 0  # noqa: E731
        time.sleep(2)
        first = count()
        assert 1 <= first <= 6, f"{first} starts of a state process that exits at once"
        res = execute(kc, 'printf("hi\\n");')
        assert res.status == "error" and res.content["ename"] == "KernelStateLost", res.content
        time.sleep(1)
        assert count() == first, "restarted again without %reset"
        execute(kc, "%reset")
        time.sleep(2)
        assert first < count() <= first + 6
    finally:
        stop_kernel(km, kc)
