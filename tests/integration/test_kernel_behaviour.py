"""cnote's behaviour as a client sees it, one test per behaviour, through jupyter_client.

Grouped as: state across cells, trailing values, stdin, interrupts, crashes, compile errors,
output volume, protocol details (signatures, counters, silent, user_expressions, stop_on_error,
is_complete, history, comm_info, versions, restart/shutdown), magics, rich display, memory limit
and the state process exiting.

Tests on the module's shared kernel (`kc`) use names of their own; tests that crash, interrupt,
restart or change settings take `fresh_kc` / `fresh_kernel`. Helpers live in harness.py.
"""

from __future__ import annotations

import base64
import queue
import re
import signal
import struct
import subprocess
import time
import zlib

import pytest

from harness import (
    Result,
    collect_iopub,
    describe,
    execute,
    fails,
    finish,
    get_reply,
    ok,
    run,
    stream_text,
    strip_ansi,
    value,
    version_tuple,
    wait_for_stream,
)

# --------------------------------------------------------------------------------------------
# State across cells
# --------------------------------------------------------------------------------------------


def test_spec_example_state_across_cells(kc):
    # Verbatim from the design: malloc and printf are used without their headers.
    content, msgs = run(kc, "#include <math.h>\n"
                            "typedef struct { double x, y; } pt;\n"
                            "double *v = malloc(1000 * sizeof *v);\n"
                            "for (int i = 0; i < 1000; i++) v[i] = sin(i);\n"
                            "double norm(pt p) { return sqrt(p.x*p.x + p.y*p.y); }")
    assert content["status"] == "ok", (content, msgs)
    content, msgs = run(kc, 'pt p = {3, 4};\nprintf("%g %g\\n", norm(p), v[10]);\nnorm(p) * 2')
    assert content["status"] == "ok", (content, msgs)
    assert stream_text(msgs, "stdout") == "5 -0.544021\n", msgs
    results = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"]
    assert results == ["10"], msgs


def test_global_variable_persists(kc):
    ok(kc, "long gp_counter = 10;")
    ok(kc, "gp_counter += 5;")
    assert value(kc, "gp_counter") == "15"


def test_global_array_length_persists(kc):
    ok(kc, "int gp_arr[] = {1, 2, 3, 4};")
    assert value(kc, "(int)(sizeof gp_arr / sizeof gp_arr[0])") == "4"
    assert value(kc, "gp_arr[3]") == "4"


def test_function_persists(kc):
    ok(kc, "int fp_add3(int a, int b, int c) { return a + b + c; }")
    assert value(kc, "fp_add3(1, 2, 3)") == "6"


def test_function_can_use_global_of_earlier_cell(kc):
    ok(kc, "int fg_base = 100;")
    ok(kc, "int fg_plus(int k) { return fg_base + k; }")
    ok(kc, "fg_base = 200;")
    assert value(kc, "fg_plus(1)") == "201"


def test_types_persist(kc):
    ok(kc, "typedef struct { int w, h; } tp_dims;\n"
           "struct tp_tagged { int v; };\n"
           "enum tp_colour { TP_RED, TP_GREEN = 5 };\n"
           "union tp_u { int i; char c[4]; };")
    assert value(kc, "tp_dims tp_d = {2, 3};\n"
                     "struct tp_tagged tp_t = {7};\n"
                     "union tp_u tp_uv = {.i = 0};\n"
                     "tp_d.w * tp_d.h + tp_t.v + TP_GREEN + tp_uv.i") == "18"


def test_struct_member_named_like_a_global(kc):
    # Redefinitions must not rewrite member names (c-kernel.md 4(b): why not #define aliases).
    ok(kc, "int sm_x = 1;")
    ok(kc, "double sm_x = 2.0;")
    assert value(kc, "struct sm_pair { int sm_x; } sm_p = {.sm_x = 7};\n"
                     "sm_p.sm_x + (int)sm_x") == "9"


def test_macros_persist(kc):
    ok(kc, "#define MP_SQUARE(x) ((x) * (x))\n#define MP_TEN 10")
    assert value(kc, "MP_SQUARE(7) + MP_TEN") == "59"


def test_includes_persist(kc):
    # <iso646.h> is a header no prelude includes by itself; `and` is one of its macros.
    ok(kc, "#include <iso646.h>")
    assert value(kc, "1 and 0") == "0"


def test_rerunning_a_cell_gives_no_error(kc):
    cell = ("#define RR_M 3\n"
            "struct rr_s { int a; };\n"
            "typedef struct rr_s rr_t;\n"
            "int rr_v = 41;\n"
            "int rr_fn(void) { return rr_v + 1; }")
    first = ok(kc, cell)
    second = ok(kc, cell)
    assert not first.errors and not second.errors
    assert value(kc, "rr_t rr_tv = {RR_M};\nrr_fn() + rr_tv.a") == "45"


def test_redefining_variable_same_type_reassigns(kc):
    ok(kc, "int rs_v = 1;")
    ok(kc, "int rs_v = 5;")
    assert value(kc, "rs_v") == "5"


def test_redefining_function_old_callers_keep_old_one(fresh_kc):
    kc = fresh_kc
    ok(kc, "int redef_f(void) { return 1; }")
    ok(kc, "int caller_g(void) { return redef_f(); }")
    res = ok(kc, "int redef_f(void) { return 2; }")
    assert re.search(r"\bcaller_g\b", strip_ansi(res.stderr)), (
        "redefining redef_f should warn on stderr that caller_g still calls the old one:\n"
        + describe(res))
    assert value(kc, "redef_f()") == "2"
    assert value(kc, "caller_g()") == "1"


def test_redefining_variable_with_another_type(kc):
    ok(kc, "int rt_x = 1;")
    ok(kc, "double rt_x = 2.5;")
    assert value(kc, "rt_x") == "2.5"


# --------------------------------------------------------------------------------------------
# Trailing values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, expected", [
    ("3 + 4", "7"),
    ("-12", "-12"),
    ("(unsigned long)-1", "18446744073709551615"),
    ("(short)-3", "-3"),
    ("1.0 / 4", "0.25"),
    ("10.0", "10"),
    ("2.5f", "2.5"),
    ("0.1", "0.1"),
    ("char tv_ch = 'a';\ntv_ch", "'a'"),
    ("(char)'z'", "'z'"),
    ('"hi"', '"hi"'),
    ('const char *tv_s = "a\\nb";\ntv_s', '"a\\nb"'),
    ("(_Bool)1", "true"),
    ("(_Bool)0", "false"),
])
def test_trailing_value(kc, code, expected):
    assert value(kc, code) == expected


def test_trailing_pointer(kc):
    text = value(kc, "int tv_target = 5;\n&tv_target")
    assert "0x" in text and "int" in text, text


def test_trailing_struct(kc):
    text = value(kc, "struct tv_point3 { int a, b, c; };\n"
                     "struct tv_point3 tv_q = {1, 2, 3};\n"
                     "tv_q")
    assert "tv_point3" in text and "bytes" in text and "12" in text, text


def test_no_trailing_value_after_semicolon(kc):
    res = ok(kc, "3 + 4;")
    assert not res.of_type("execute_result"), describe(res)


# --------------------------------------------------------------------------------------------
# stdin
# --------------------------------------------------------------------------------------------


def test_stdin_fgets(kc):
    res = ok(kc, "char sd_buf[64];\n"
                 "fgets(sd_buf, sizeof sd_buf, stdin);\n"
                 'printf("got %s", sd_buf);',
             allow_stdin=True, stdin_answers=["abc"])
    assert len(res.input_requests) == 1, describe(res)
    assert "got abc" in res.stdout, describe(res)


def test_stdin_scanf(kc):
    res = ok(kc, 'int sd_a;\nscanf("%d", &sd_a);\nsd_a * 2',
             allow_stdin=True, stdin_answers=["21"])
    assert res.input_requests, describe(res)
    assert res.result_text() == "42"


def test_stdin_not_allowed_gives_eof_at_once(kc):
    res = ok(kc, "getchar()", allow_stdin=False, timeout=30)
    assert res.input_requests == [], "input_request sent although allow_stdin was false"
    assert res.result_text() == "-1"


# --------------------------------------------------------------------------------------------
# Interrupts
# --------------------------------------------------------------------------------------------

SPIN = 'printf("spinning\\n"); fflush(stdout);\nfor (;;) { }'


def start_spinning(kc):
    """Send a cell that prints a marker then loops forever; return once the marker arrived."""
    msg_id = kc.execute(SPIN)
    seen = wait_for_stream(kc, msg_id, "spinning", timeout=60)
    return msg_id, seen


def assert_interrupted(kc, msg_id, seen):
    res = finish(kc, msg_id, seen, timeout=30)
    assert res.status == "error", describe(res)
    assert res.content["ename"] == "KeyboardInterrupt", describe(res)
    assert len(res.errors) == 1, describe(res)
    return res


def test_interrupt_with_km_interrupt_kernel(fresh_kernel):
    km, kc = fresh_kernel
    ok(kc, "int ik_before = 42;")
    msg_id, seen = start_spinning(kc)
    km.interrupt_kernel()
    assert_interrupted(kc, msg_id, seen)
    assert value(kc, "1 + 1") == "2"
    assert value(kc, "ik_before") == "42"


def test_interrupt_with_control_message(fresh_kc):
    kc = fresh_kc
    ok(kc, "int ic_before = 43;")
    msg_id, seen = start_spinning(kc)
    req = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(req)
    reply = get_reply(kc, req["header"]["msg_id"], time.monotonic() + 30, channel="control")
    assert reply["msg_type"] == "interrupt_reply"
    assert reply["content"]["status"] == "ok"
    assert_interrupted(kc, msg_id, seen)
    assert value(kc, "1 + 1") == "2"
    assert value(kc, "ic_before") == "43"


def test_interrupt_with_sigint_to_process_group(fresh_kernel):
    km, kc = fresh_kernel
    ok(kc, "int is_before = 44;")
    msg_id, seen = start_spinning(kc)
    km.signal_kernel(signal.SIGINT)  # the local provisioner signals the process group
    assert_interrupted(kc, msg_id, seen)
    assert value(kc, "1 + 1") == "2"
    assert value(kc, "is_before") == "44"


def test_heartbeat_answers_while_cell_runs(fresh_kernel):
    km, kc = fresh_kernel
    msg_id, seen = start_spinning(kc)
    hb = km.connect_hb()
    try:
        hb.send(b"ping")
        assert hb.poll(5000), "no heartbeat echo while a cell runs"
        assert hb.recv() == b"ping"
    finally:
        hb.close(linger=0)
    km.interrupt_kernel()
    assert_interrupted(kc, msg_id, seen)


# --------------------------------------------------------------------------------------------
# Crashes in the state process
# --------------------------------------------------------------------------------------------


def test_segfault_is_survived_with_state(fresh_kc):
    kc = fresh_kc
    ok(kc, "int sg_kept = 7;")
    res = fails(kc, "int *sg_p = 0;\n*sg_p = 1;", ename="SIGSEGV")
    assert len(res.errors) == 1, describe(res)
    assert value(kc, "sg_kept") == "7"


def test_abort_is_reported(fresh_kc):
    kc = fresh_kc
    fails(kc, "#include <stdlib.h>\nabort();", ename={"SIGABRT", "KernelStateLost"})
    assert value(kc, "1 + 1") == "2"


def test_integer_divide_by_zero(fresh_kc):
    kc = fresh_kc
    ok(kc, "volatile int dz_zero = 0;\nint dz_kept = 8;")
    # not 1 / x: gcc -O2 turns that into a comparison with no division
    fails(kc, 'printf("%d\\n", dz_kept / dz_zero);', ename="SIGFPE")
    assert value(kc, "dz_kept") == "8"


def test_stack_overflow(fresh_kc):
    kc = fresh_kc
    # A volatile frame that is read after the call, so -O2 cannot turn the recursion into a loop
    # (plain `return f(n + 1) + 1;` becomes `jmp f` with gcc 12 -O2).
    ok(kc, "int so_deep(volatile char *prev) {\n"
           "    volatile char here[64];\n"
           "    here[0] = prev ? prev[0] + 1 : 0;\n"
           "    return so_deep(here) + here[1];\n"
           "}")
    fails(kc, "so_deep(0);", ename="SIGSEGV", timeout=60)
    assert value(kc, "1 + 1") == "2"


def test_exit_in_cell_restarts_state_process(fresh_kc):
    kc = fresh_kc
    ok(kc, "int ex_gone = 1;")
    before = ok(kc, "(void)1;").content["execution_count"]
    res = fails(kc, "#include <stdlib.h>\nexit(3);", ename="KernelStateLost")
    text = res.error_text().lower()
    assert "lost" in text, describe(res)
    assert "exit" in text, describe(res)
    # The kernel process and its sockets survive: the same client keeps working.
    after = ok(kc, "1 + 1")
    assert after.result_text() == "2"
    assert after.content["execution_count"] > before
    kc.kernel_info()
    assert kc.get_shell_msg(timeout=10)["msg_type"] == "kernel_info_reply"


def test_crash_restart_keeps_sockets(fresh_kernel):
    km, kc = fresh_kernel
    pid = km.provisioner.process.pid
    fails(kc, "#include <stdlib.h>\nexit(3);")
    fails(kc, "#include <stdlib.h>\nabort();")
    fails(kc, "#include <stdlib.h>\nexit(0);")
    assert km.is_alive() and km.provisioner.process.pid == pid, "the kernel process was replaced"
    assert value(kc, "6 * 7") == "42"


# --------------------------------------------------------------------------------------------
# Compile errors
# --------------------------------------------------------------------------------------------


def test_compile_error_names_cell_line(kc):
    res = fails(kc, "int ce_ok1 = 1;\n"
                    "int ce_ok2 = 2;\n"
                    "int ce_bad = ce_undeclared_thing;\n"
                    "int ce_ok3 = 3;", ename="CompileError")
    assert len(res.outputs) == 1 and res.outputs[0]["msg_type"] == "error", describe(res)
    tb = strip_ansi("\n".join(res.errors[0]["traceback"]))
    assert ":3:" in tb, tb
    assert "ce_undeclared_thing" in tb, tb


# --------------------------------------------------------------------------------------------
# Output volume
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_ten_megabytes_of_output_arrive_whole_and_in_order(kc):
    res = ok(kc, 'for (int i = 0; i < 1000000; i++) printf("%09d\\n", i);', timeout=230)
    out = res.stdout
    n = len(out)
    assert n == 10_000_000, f"got {n} bytes of stdout, want 10000000"
    expected = "".join(f"{i:09d}\n" for i in range(1_000_000))
    if out != expected:
        first = next(i for i in range(n) if out[i] != expected[i])
        pytest.fail(f"stdout differs from byte {first} (line {first // 10}): "
                    f"{out[first - 20:first + 20]!r} vs {expected[first - 20:first + 20]!r}")


@pytest.mark.timeout(240)
def test_multibyte_output_is_never_split_between_messages(kc):
    # 3- and 4-byte characters after one ASCII byte, so they straddle every read and message
    # boundary; a character cut between two messages would arrive as U+FFFD
    res = ok(kc, 'putchar(\'a\');\n'
                 'for (int i = 0; i < 400000; i++)\n'
                 '    fputs(i % 7 ? "\\u20ac" : "\\U0001F600", stdout);\n'
                 'fflush(stdout);\n'
                 'fputs("\\u00e9nd\\n", stderr);', timeout=230)
    expected = "a" + "".join("\u20ac" if i % 7 else "\U0001F600" for i in range(400000))
    out = res.stdout
    assert "\ufffd" not in out, f"a character was cut: U+FFFD at {out.index(chr(0xfffd))}"
    assert out == expected, f"got {len(out)} characters, want {len(expected)}"
    assert res.stderr == "\u00e9nd\n", describe(res)
    assert len(res.of_type("stream")) > 1, "expected the output in several messages"


def test_big_output_comes_before_what_follows_it(kc):
    # megabytes of stdout, then stderr, then stdout again: each stream in order, the stderr
    # line after everything printed before it
    res = ok(kc, 'for (int i = 0; i < 300000; i++) printf("%07d\\n", i);\n'
                 'fflush(stdout);\n'
                 'fprintf(stderr, "middle\\n");\n'
                 'printf("last\\n");', timeout=120)
    body = "".join(f"{i:07d}\n" for i in range(300000))
    assert res.stdout == body + "last\n", f"{len(res.stdout)} bytes of stdout"
    assert res.stderr == "middle\n", describe(res)
    streams = [(m["content"]["name"], m["content"]["text"]) for m in res.of_type("stream")]
    first_err = next(i for i, (name, _) in enumerate(streams) if name == "stderr")
    before = "".join(text for name, text in streams[:first_err] if name == "stdout")
    # (what is written after the stderr line may still come before it: two pipes)
    assert before[:len(body)] == body, f"{len(before)} bytes of stdout before the stderr line"


@pytest.mark.timeout(120)
def test_a_subscriber_that_lags_loses_no_output(fresh_kernel):
    # IOPub is a PUB socket: a subscriber more than its high-water mark behind would lose
    # messages silently. A second subscriber here reads nothing for 1.5 s while a cell prints
    # 3000 separate 8 KiB messages (25 MB), more than the socket buffers and ZeroMQ's queues
    # hold; the kernel's flow control makes the cell wait instead, so that subscriber still gets
    # every message, in order.
    import threading

    import zmq

    km, kc = fresh_kernel
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"{km.transport}://{km.ip}:{km.iopub_port}")
    session = kc.session
    try:
        deadline = time.monotonic() + 20
        while not sub.poll(100):  # the subscription takes effect a little later
            assert time.monotonic() < deadline, "the extra subscriber never heard the kernel"
            kc.kernel_info()
        while sub.poll(200):
            sub.recv_multipart()
        got: list[str] = []
        seen: dict = {}
        done = threading.Event()
        msg_id = kc.execute(
            "#include <unistd.h>\n"
            "char *b = malloc(8192);\n"
            "memset(b, 'x', 8192); b[8191] = '\\n';\n"
            "for (int i = 0; i < 3000; i++) {\n"
            "    char t[8]; snprintf(t, sizeof t, \"%07d\", i); memcpy(b, t, 7);\n"
            "    fwrite(b, 1, 8192, stdout); fflush(stdout); usleep(300);\n"
            "}\n"
            "free(b);")

        def slow_reader():
            time.sleep(1.5)
            end = time.monotonic() + 90
            while time.monotonic() < end:
                if not sub.poll(1000):
                    continue
                idents, msg = session.feed_identities(sub.recv_multipart())
                m = session.deserialize(msg)
                seen[m["msg_type"]] = seen.get(m["msg_type"], 0) + 1
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                    got.append(m["content"]["text"])
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    break
            done.set()

        t = threading.Thread(target=slow_reader, daemon=True)
        t.start()
        reply = get_reply(kc, msg_id, time.monotonic() + 90)
        assert reply["content"]["status"] == "ok", reply["content"]
        assert done.wait(90), "the slow subscriber never saw the cell finish"
        line = "x" * 8184 + "\n"
        want = "".join(f"{i:07d}{line}" for i in range(3000))
        text = "".join(got)
        assert len(text) == len(want), (f"the slow subscriber got {len(text)} of {len(want)} "
                                        f"bytes; seen {seen}")
        assert text == want, "the slow subscriber's output is out of order or damaged"
    finally:
        sub.close(0)
        ctx.term()


def test_output_past_max_output_is_cut_with_a_note(monkeypatch):
    from conftest import start_kernel, stop_kernel

    monkeypatch.setenv("CNOTE_MAX_OUTPUT", "1000000")
    km, kc = start_kernel()
    try:
        res = ok(kc, 'for (int i = 0; i < 500000; i++) printf("%09d\\n", i);', timeout=120)
        assert 0 < len(res.stdout) <= 1_000_000, f"{len(res.stdout)} bytes of stdout"
        want = "".join(f"{i:09d}\n" for i in range(len(res.stdout) // 10 + 1))
        assert res.stdout == want[:len(res.stdout)], "the output kept is not a prefix"
        assert "output truncated" in res.stderr, describe(res)
        names = [m["content"]["name"] for m in res.of_type("stream")]
        assert names[-1] == "stderr" and "stdout" not in names[names.index("stderr"):], names
        small = ok(kc, 'printf("again\\n");')  # the limit is per cell
        assert small.stdout == "again\n", describe(small)
    finally:
        stop_kernel(km, kc)


def test_silent_cell_with_big_output_publishes_no_stream(kc):
    res = execute(kc, 'for (int i = 0; i < 200000; i++) printf("%09d\\n", i);', silent=True,
                  timeout=120)
    assert res.status == "ok", describe(res)
    assert not res.of_type("stream"), describe(res)
    after = ok(kc, 'printf("visible\\n");')
    assert after.stdout == "visible\n", describe(after)


def test_stdout_and_stderr_are_separate_streams(kc):
    res = ok(kc, 'printf("one\\n");\n'
                 'fprintf(stderr, "two\\n");\n'
                 'puts("three");\n'
                 '#include <unistd.h>\n'
                 'write(1, "four\\n", 5);')
    assert res.stderr == "two\n", describe(res)
    out = res.stdout
    assert sorted(out.splitlines()) == ["four", "one", "three"], describe(res)
    assert out.index("one") < out.index("three"), describe(res)


# --------------------------------------------------------------------------------------------
# Protocol details
# --------------------------------------------------------------------------------------------


def test_message_with_bad_signature_is_ignored(kc):
    msg = kc.session.msg("execute_request", {
        "code": "int bs_ran = 1;", "silent": False, "store_history": True,
        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
    })
    frames = kc.session.serialize(msg)  # [<IDS|MSG>, signature, header, parent, metadata, content]
    delim = frames.index(b"<IDS|MSG>")
    frames[delim + 1] = b"0" * 64
    kc.shell_channel.socket.send_multipart(frames)
    with pytest.raises(queue.Empty):
        while True:  # nothing parented to the forged request within 1 s on shell or IOPub
            reply = kc.shell_channel.get_msg(timeout=1)
            assert reply["parent_header"].get("msg_id") != msg["header"]["msg_id"], reply
    while kc.iopub_channel.msg_ready():
        m = kc.iopub_channel.get_msg(timeout=0)
        assert m["parent_header"].get("msg_id") != msg["header"]["msg_id"], m
    kc.kernel_info()
    assert kc.get_shell_msg(timeout=10)["msg_type"] == "kernel_info_reply"
    fails(kc, "bs_ran", ename="CompileError")  # the forged cell never ran


def test_execution_count_increments(kc):
    a = ok(kc, "(void)1;").content["execution_count"]
    b = ok(kc, "(void)2;").content["execution_count"]
    assert b == a + 1
    res = ok(kc, "3")
    assert res.content["execution_count"] == a + 2
    assert res.of_type("execute_input")[0]["content"]["execution_count"] == a + 2
    assert res.of_type("execute_result")[0]["content"]["execution_count"] == a + 2


def test_silent_has_no_output_and_does_not_count(kc):
    a = ok(kc, "(void)1;").content["execution_count"]
    res = execute(kc, 'int sl_ran = 7;\nprintf("should not appear\\n");\nsl_ran', silent=True)
    assert res.status == "ok", describe(res)
    states = [(m["msg_type"], m["content"].get("execution_state")) for m in res.iopub]
    assert states == [("status", "busy"), ("status", "idle")], states
    b = ok(kc, "(void)1;").content["execution_count"]
    assert b == a + 1
    assert value(kc, "sl_ran") == "7"  # it did run


def test_store_history_false_does_not_count(kc):
    a = ok(kc, "(void)1;").content["execution_count"]
    res = execute(kc, "4 + 4", store_history=False)
    assert res.status == "ok" and res.result_text() == "8", describe(res)
    b = ok(kc, "(void)1;").content["execution_count"]
    assert b == a + 1


def test_user_expressions(kc):
    res = ok(kc, "int ue_v = 1;", user_expressions={"a": "1+2", "b": "ue_v * 10"})
    ue = res.content["user_expressions"]
    assert ue["a"] == {"status": "ok", "data": {"text/plain": "3"}, "metadata": {}}, ue
    assert ue["b"]["status"] == "ok" and ue["b"]["data"]["text/plain"] == "10", ue


def test_stop_on_error_aborts_queued_requests(kc):
    ok(kc, "int soe_ran = 0;")
    ids = [kc.execute("int soe_broken = ;"),
           kc.execute("soe_ran = 1;"),
           kc.execute("soe_ran = 2;")]
    deadline = time.monotonic() + 60
    replies = {i: get_reply(kc, i, deadline)["content"] for i in ids}  # all three, in order
    for msg_id in ids:  # every request, aborted or not, is bracketed by busy/idle
        collect_iopub(kc, msg_id, deadline)
    assert replies[ids[0]]["status"] == "error"
    assert replies[ids[1]]["status"] == "aborted", replies[ids[1]]
    assert replies[ids[2]]["status"] == "aborted", replies[ids[2]]
    assert value(kc, "soe_ran") == "0"  # and the kernel runs cells again afterwards


@pytest.mark.parametrize("code, status", [
    ("int ic_x = 1;", "complete"),
    ("int ic_f(void) {", "incomplete"),
    ("/* unterminated", "incomplete"),
    ("}", "invalid"),
])
def test_is_complete(kc, code, status):
    msg_id = kc.is_complete(code)
    reply = get_reply(kc, msg_id, time.monotonic() + 10)
    assert reply["content"]["status"] == status, reply["content"]
    if status == "incomplete":
        assert isinstance(reply["content"].get("indent"), str), reply["content"]


def test_history_tail(kc):
    codes = ["int ht_a = 1;", "int ht_b = 2;", "ht_a + ht_b"]
    for c in codes:
        ok(kc, c)
    msg_id = kc.history(hist_access_type="tail", n=3, output=False, raw=True)
    reply = get_reply(kc, msg_id, time.monotonic() + 10)
    hist = reply["content"]["history"]
    assert [h[2] for h in hist] == codes, hist
    assert all(len(h) == 3 for h in hist)
    lines = [h[1] for h in hist]
    assert lines == sorted(lines) and len(set(lines)) == 3, hist


def test_comm_info(kc):
    msg_id = kc.comm_info()
    reply = get_reply(kc, msg_id, time.monotonic() + 10)
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["comms"] == {}


def test_complete_user_defined_names(kc):
    ok(kc, "int cmpl_unique_counter = 1;\nint cmpl_unique_fn(void) { return 0; }")
    code = "int z = cmpl_unique_"
    msg_id = kc.complete(code, len(code))
    reply = get_reply(kc, msg_id, time.monotonic() + 10)["content"]
    assert set(reply["matches"]) == {"cmpl_unique_counter", "cmpl_unique_fn"}, reply
    assert reply["cursor_start"] == len("int z = ") and reply["cursor_end"] == len(code), reply


def test_protocol_versions(kc):
    msg_id = kc.kernel_info()
    info = get_reply(kc, msg_id, time.monotonic() + 10)
    assert version_tuple(info["content"]["protocol_version"]) >= (5, 3), info["content"]
    res = ok(kc, 'printf("v\\n");\n1')
    headers = [info["header"], res.reply["header"]] + [m["header"] for m in res.iopub]
    for h in headers:
        assert version_tuple(h["version"]) >= (5, 3), h
    sessions = {h["session"] for h in headers}
    assert len(sessions) == 1, sessions


def test_restart_clears_state_and_kernel_answers(fresh_kernel):
    km, kc = fresh_kernel
    first = ok(kc, "int rk_x = 5;")
    old_session = first.reply["header"]["session"]
    km.restart_kernel()
    kc.wait_for_ready(timeout=60)
    res = fails(kc, "rk_x", ename="CompileError")
    assert res.reply["header"]["session"] != old_session, "a restarted kernel needs a new session id"
    assert value(kc, "1 + 1") == "2"


def test_shutdown_request_replies_and_exits(fresh_kernel):
    km, kc = fresh_kernel
    proc = km.provisioner.process
    msg_id = kc.shutdown(restart=False)
    reply = get_reply(kc, msg_id, time.monotonic() + 10, channel="control")
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok" and reply["content"]["restart"] is False
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("kernel still running 10 s after its shutdown_reply")


# --------------------------------------------------------------------------------------------
# Magics
# --------------------------------------------------------------------------------------------


def test_magic_who_and_reset(fresh_kc):
    kc = fresh_kc
    ok(kc, "int who_alpha = 1;\ndouble who_beta(void) { return 2; }")
    listing = ok(kc, "%who").all_text()
    assert "who_alpha" in listing and "who_beta" in listing, listing
    # each name under its own heading
    funcs = listing.split("functions:")[1].split("variables:")[0]
    variables = listing.split("variables:")[1]
    assert "who_beta" in funcs and "who_alpha" not in funcs, listing
    assert "who_alpha" in variables and "who_beta" not in variables, listing
    ok(kc, "%reset")
    listing = ok(kc, "%who").all_text()
    assert "who_alpha" not in listing and "who_beta" not in listing, listing
    fails(kc, "who_alpha", ename="CompileError")
    assert value(kc, "1 + 1") == "2"


def test_magic_cflags(fresh_kc):
    kc = fresh_kc
    assert value(kc, "__OPTIMIZE__") == "1"  # -O2 by default
    ok(kc, "%cflags -O0")
    fails(kc, "__OPTIMIZE__", ename="CompileError")
    assert value(kc, "2 + 2") == "4"


def test_magic_cflags_define(fresh_kc):
    kc = fresh_kc
    ok(kc, "%cflags -O0 -DCF_FLAG=17")
    assert value(kc, "CF_FLAG") == "17"


def test_magic_lib(fresh_kc):
    kc = fresh_kc
    ok(kc, "%lib m")
    assert value(kc, "#include <math.h>\ncbrt(27.0)") == "3"


def test_magic_time(kc):
    res = ok(kc, "%%time\n"
                 "long tm_t = 0;\n"
                 "for (int i = 0; i < 1000; i++) tm_t += i;\n"
                 'printf("%ld\\n", tm_t);')
    assert "499500" in res.stdout, describe(res)
    assert any("wall" in line.lower() for line in res.stdout.splitlines()), describe(res)


# --------------------------------------------------------------------------------------------
# Rich display (cnote.h)
# --------------------------------------------------------------------------------------------


def png_1x1() -> bytes:
    """A valid 1x1 RGB PNG, built here so the test needs no image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def c_bytes(data: bytes) -> str:
    return "{" + ", ".join(str(b) for b in data) + "}"


def one_display(res: Result) -> dict:
    shown = res.of_type("display_data")
    assert len(shown) == 1, describe(res)
    content = shown[0]["content"]
    assert isinstance(content.get("metadata"), dict), content
    return content


def test_display_html(kc):
    res = ok(kc, '#include <cnote.h>\ndisplay_html("<b>bold</b>");')
    assert one_display(res)["data"]["text/html"] == "<b>bold</b>"


@pytest.mark.parametrize("call, mime, expected", [
    ('display_text("plain words");', "text/plain", "plain words"),
    ('display_markdown("# Title");', "text/markdown", "# Title"),
    ('display_latex("$x^2$");', "text/latex", "$x^2$"),
    ("display_svg(\"<svg xmlns='http://www.w3.org/2000/svg'/>\");", "image/svg+xml",
     "<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ('display_json("{\\"a\\": [1, 2]}");', "application/json", {"a": [1, 2]}),
    ('display_mime("text/csv", "a,b\\n1,2\\n", 8);', "text/csv", "a,b\n1,2\n"),
])
def test_display_text_kinds(kc, call, mime, expected):
    res = ok(kc, "#include <cnote.h>\n" + call)
    assert one_display(res)["data"][mime] == expected


def test_display_png(kc):
    png = png_1x1()
    res = ok(kc, "#include <cnote.h>\n"
                 f"unsigned char dp_png[] = {c_bytes(png)};\n"
                 "display_png(dp_png, sizeof dp_png);")
    data = one_display(res)["data"]["image/png"]
    assert base64.b64decode(data) == png


def test_display_jpeg(kc):
    jpeg = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]) + b"JFIF\0" + bytes(range(32)) + b"\xff\xd9"
    res = ok(kc, "#include <cnote.h>\n"
                 f"unsigned char dj_jpg[] = {c_bytes(jpeg)};\n"
                 "display_jpeg(dj_jpg, sizeof dj_jpg);")
    assert base64.b64decode(one_display(res)["data"]["image/jpeg"]) == jpeg


def test_display_update_by_id(kc):
    res = ok(kc, "#include <cnote.h>\n"
                 'display_html_id("d1", "<i>a</i>");\n'
                 'update_display_html("d1", "<i>b</i>");')
    kinds = [m["msg_type"] for m in res.outputs]
    assert kinds == ["display_data", "update_display_data"], describe(res)
    first, second = (m["content"] for m in res.outputs)
    assert first["transient"]["display_id"] == "d1" and first["data"]["text/html"] == "<i>a</i>"
    assert second["transient"]["display_id"] == "d1" and second["data"]["text/html"] == "<i>b</i>"


def test_display_mime_update_by_id(kc):
    res = ok(kc, "#include <cnote.h>\n"
                 'display_mime_id("d2", "text/plain", "10%", 3);\n'
                 'update_display_mime("d2", "text/plain", "100%", 4);')
    kinds = [m["msg_type"] for m in res.outputs]
    assert kinds == ["display_data", "update_display_data"], describe(res)
    first, second = (m["content"] for m in res.outputs)
    assert first["transient"]["display_id"] == "d2" and first["data"]["text/plain"] == "10%"
    assert second["transient"]["display_id"] == "d2" and second["data"]["text/plain"] == "100%"


def test_clear_output_wait(kc):
    res = ok(kc, "#include <cnote.h>\nclear_output(1);")
    cleared = res.of_type("clear_output")
    assert len(cleared) == 1 and cleared[0]["content"]["wait"] is True, describe(res)


def test_display_keeps_order_with_stdout(kc):
    res = ok(kc, "#include <cnote.h>\n"
                 'printf("before\\n");\n'
                 'display_html("<p>middle</p>");\n'
                 'printf("after\\n");')
    seq: list[list] = []  # consecutive stdout messages merged
    for m in res.outputs:
        if m["msg_type"] == "stream" and seq and seq[-1][0] == "stream":
            seq[-1][1] += m["content"]["text"]
        elif m["msg_type"] == "stream":
            seq.append(["stream", m["content"]["text"]])
        else:
            seq.append([m["msg_type"], None])
    assert seq == [["stream", "before\n"], ["display_data", None], ["stream", "after\n"]], seq


# --------------------------------------------------------------------------------------------
# Memory limit
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_memlimit(fresh_kc):
    kc = fresh_kc
    ok(kc, "#include <stdlib.h>\n#include <string.h>")
    ok(kc, "%memlimit 200M")
    res = fails(kc, "size_t ml_n = (size_t)1 << 30;\n"
                    "char *ml_big = malloc(ml_n);\n"
                    "memset(ml_big, 1, ml_n);\n"
                    'printf("%d\\n", ml_big[ml_n - 1]);', ename="MemoryError", timeout=170)
    assert len(res.errors) == 1, describe(res)
    assert value(kc, "1 + 1") == "2"
    # well under the limit still works
    ok(kc, "#include <stdlib.h>\n#include <string.h>\n"
           "char *ml_small = malloc(1 << 20);\nmemset(ml_small, 2, 1 << 20);")
    assert value(kc, "(int)ml_small[12345]") == "2"
