"""The generic Jupyter kernel conformance suite (jupyter_kernel_test 0.7.0) run against cnote.

Every sample the suite supports is filled in; see shared/reference/jupyter-protocol.md section 3.9
for what each test asserts. The suite starts its own kernel in setUpClass (one per class).
The base class is reached through the module (`jkt.KernelTests`), never imported by name: pytest
collects every unittest.TestCase in a module's namespace, and the base class alone would run the
suite against the "python3" kernel.
"""

import os

import jupyter_kernel_test as jkt


class CnoteKernelTests(jkt.KernelTests):
    kernel_name = os.environ.get("CNOTE_KERNEL_NAME", "cnote")

    # test_kernel_info
    language_name = "c"
    file_extension = ".c"

    # test_execute_stdout / test_execute_stderr
    code_hello_world = '#include <stdio.h>\nprintf("hello, world\\n");'
    code_stderr = 'fprintf(stderr, "oops\\n");'

    # test_completion: the reply's matches must equal these sets exactly. cnote.h declares both
    # display_html, display_html_id and display_htmlf, so "display_htm" matches three names.
    completion_samples = [
        {"text": "display_htm", "matches": {"display_html", "display_html_id", "display_htmlf"}},
        {"text": "update_display_h", "matches": {"update_display_html"}},
        {"text": "whil", "matches": {"while"}},
        {"text": "int n = 0; whil", "matches": {"while"}},
    ]

    # test_is_complete: only unambiguous samples (see the is_complete rule in c-kernel.md 4(a)7:
    # an unbalanced opener, unterminated comment or trailing backslash is incomplete; a surplus
    # closer is invalid).
    complete_code_samples = [
        "int x = 1;",
        'printf("hi\\n");',
        "int f(void) { return 1; }",
        "for (int i = 0; i < 3; i++) { }",
        "x + 1",
        "/* a comment */ int y;",
    ]
    incomplete_code_samples = [
        "int f(void) {",
        "/* an unterminated comment",
        'printf("a %d\\n",',
        "int a[] = {1, 2,",
        "#define TWICE(x) \\",
        "for (int i = 0; i < 3; i++) {\n    if (i) {",
    ]
    invalid_code_samples = [
        "}",
        "int x = 1; }",
        "f(1));",
    ]

    # test_pager
    code_page_something = "?printf"

    # test_error: a compile error gives exactly one IOPub output, of type error
    code_generate_error = "int x = ;"

    # test_execute_result (and test_history, which re-runs these codes)
    code_execute_result = [
        {"code": "int j = 5; j", "result": "5"},
        {"code": "1.5 * 2", "result": "3"},
        {"code": "7 * 6", "result": "42"},
    ]

    # test_display_data
    code_display_data = [
        {"code": '#include <cnote.h>\ndisplay_html("<b>x</b>");', "mime": "text/html"},
        {
            "code": "#include <cnote.h>\n"
            "display_svg(\"<svg xmlns='http://www.w3.org/2000/svg'/>\");",
            "mime": "image/svg+xml",
        },
    ]

    # test_history: "*j*" matches only "int j = 5; j" among all the codes this class runs, which
    # the unique=True sub-test needs (exactly one entry).
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "*j*"

    # test_inspect
    code_inspect_sample = "printf"

    # test_clear_output
    code_clear_output = "#include <cnote.h>\nclear_output(0);"
