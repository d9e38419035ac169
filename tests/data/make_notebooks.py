#!/usr/bin/env python3
"""Generate the notebook fixtures used by tests/unit/server/test_contents.c.

Every file under tests/data/notebooks/ is written by the real nbformat writer
(nbformat.write), so the C contents manager must reproduce these bytes exactly when a
notebook is fetched and saved back unchanged. Run with the project venv:

    .venv/bin/python tests/data/make_notebooks.py

The output is deterministic (fixed cell ids, no timestamps); the generated files are
committed. bigint.ipynb holds an integer outside int64, which cnote refuses to read
(jansson's limit) and which the tests use for that error path.
"""
import base64
import os
import sys

import nbformat
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
    new_raw_cell,
)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notebooks")

# 300 bytes of "PNG" so the base64 string is long (one unsplit line in the file)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\x00" * 36).decode("ascii")

LANG = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}
KSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def cid(n):
    return "cell-%04d" % n


def write(name, nb):
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f, version=nbformat.NO_CONVERT)
    print("wrote", path)


def rich_v45():
    nb = new_notebook(metadata={"kernelspec": KSPEC, "language_info": LANG})
    nb.cells = [
        new_markdown_cell(
            "# Title with ünïcødé and emoji 🎉🐍\n\nSecond paragraph, CJK 漢字かな, RTL שלום.\n"
            "Quotes \" and 'single', backslash \\ and slash / and tab\there.\n"
            "Line separator\u2028inside, paragraph separator\u2029too, NEL\x85also.\n"
            "Trailing line without newline",
            id=cid(1),
        ),
        new_code_cell(
            'print("hello")\nfor i in range(3):\n    print(i)\n',
            id=cid(2),
            execution_count=1,
            outputs=[
                new_output("stream", name="stdout", text="hello\n0\n1\n2\n"),
                new_output("stream", name="stderr", text="warning: no newline at end"),
            ],
        ),
        new_code_cell(
            "x = {'a': 1}\nx",
            id=cid(3),
            execution_count=2,
            outputs=[
                new_output(
                    "execute_result",
                    execution_count=2,
                    data={
                        "text/plain": "{'a': 1,\n 'b': 2}",
                        "text/html": "<table>\n<tr><td>1</td></tr>\n</table>\n",
                        "application/json": {"a": 1, "nested": {"list": [1, 2.5, None, True]}},
                        "application/vnd.custom+json": {"k": "v\nw"},
                    },
                    metadata={"isolated": False},
                )
            ],
        ),
        new_code_cell(
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])",
            id=cid(4),
            execution_count=3,
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "image/png": PNG,
                        "text/plain": "<Figure size 640x480 with 1 Axes>",
                        "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg">\n'
                        "<circle r='1'/>\n</svg>\n",
                        "application/javascript": "console.log(1);\nconsole.log(2);\n",
                    },
                    metadata={"image/png": {"width": 640, "height": 480}},
                )
            ],
        ),
        new_code_cell(
            "1/0",
            id=cid(5),
            execution_count=4,
            outputs=[
                new_output(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=[
                        "\x1b[0;31m-------------------------------------\x1b[0m",
                        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
                    ],
                )
            ],
        ),
        new_code_cell("", id=cid(6)),
        new_markdown_cell("", id=cid(7)),
        new_raw_cell("raw \\LaTeX\r\nwith CRLF\r\nlines\rand a lone CR\n", id=cid(8)),
        new_code_cell(
            "# form feed\x0cvertical tab\x0bfile sep\x1cgroup sep\x1drecord sep\x1eend\n"
            "controls: \x00 \x01 \x07 \x08 \x1f del\x7f\n",
            id=cid(9),
            metadata={
                "tags": ["parameters", "ünï"],
                "collapsed": True,
                "scrolled": "auto",
                "jupyter": {"source_hidden": False, "outputs_hidden": True},
            },
        ),
    ]
    nb.metadata["custom"] = {
        "floats": [0.1, 1e-05, 1e16, 2.0, -0.0, 0.0, 1.5, 10.0, 1e-4, 123.456, -2.5e-10],
        "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 42],
        "bools": [True, False, None],
        "empty": {"list": [], "dict": {}, "str": ""},
        "nested": {"a": {"b": {"c": {"d": [[], [{}], [[1]]]}}}},
        "keys": {"z": 1, "Z": 2, "a": 3, "é": 4, "ä": 5, "10": 6, "9": 7, "_": 8, "🎉": 9, "": 10},
        "escapes": "nul\x00 bell\x07 esc\x1b del\x7f quote\" back\\ slash/ u2028\u2028 bmp\uffff",
    }
    return nb


def v40_noids():
    nb = new_notebook(metadata={"kernelspec": KSPEC})
    nb.nbformat_minor = 0
    cells = [
        new_markdown_cell("A **v4.0** notebook\nwithout cell ids"),
        new_code_cell(
            "a = 1\nb = 2\n",
            execution_count=None,
            outputs=[new_output("stream", name="stdout", text="multi\nline\n")],
        ),
        new_raw_cell(""),
    ]
    for c in cells:
        del c["id"]
    nb.cells = cells
    return nb


def attachments_v44():
    nb = new_notebook()
    nb.nbformat_minor = 4
    md = new_markdown_cell("![img](attachment:a.png)\n![txt](attachment:b.txt)")
    del md["id"]
    md["attachments"] = {
        "a.png": {"image/png": PNG},
        "b.txt": {"text/plain": "first line\nsecond line\n"},
    }
    nb.cells = [md]
    return nb


def floats():
    vals = [
        0.1, 0.2, 0.30000000000000004, 1 / 3, 2 / 3, 1e22, 1e23, 5e-324, 1.7976931348623157e308,
        2.2250738585072014e-308, 123456789012345680.0, 1e15, 1e16, 9999999999999998.0,
        0.0001, 0.00001, 1.0000000000000002, 100.0, -1e-7, 4.35, 0.3, 3.14159, 2.718281828459045,
        1e100, 1.5e300, 6.02214076e23, -0.0, 65536.0, 0.5, 1.25e-5,
    ] + [2.0 ** k for k in range(-1074, 1024, 37)] + [1.1 ** k for k in range(0, 800, 53)]
    nb = new_notebook(metadata={"floats": vals})
    nb.cells = [new_code_cell("", id="only")]
    return nb


def bigint():
    nb = new_notebook(metadata={"big": 2**64})
    return nb


def main():
    os.makedirs(HERE, exist_ok=True)
    write("rich_v45.ipynb", rich_v45())
    write("v40_noids.ipynb", v40_noids())
    write("attachments_v44.ipynb", attachments_v44())
    write("empty.ipynb", new_notebook())
    write("floats.ipynb", floats())
    write("bigint.ipynb", bigint())
    return 0


if __name__ == "__main__":
    sys.exit(main())
