"""End-to-end: execute docs/examples/intro.ipynb with nbclient on the cnote kernel, the way
`jupyter nbconvert --execute` would, and check the outputs of specific cells (found by cell id).
The notebook in the repository is kept without outputs; this test never writes it back.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "intro.ipynb"
KERNEL_NAME = os.environ.get("CNOTE_KERNEL_NAME", "cnote")


def stdout_of(cell) -> str:
    return "".join(o["text"] for o in cell.outputs
                   if o["output_type"] == "stream" and o["name"] == "stdout")


def result_of(cell) -> str:
    results = [o for o in cell.outputs if o["output_type"] == "execute_result"]
    assert len(results) == 1, cell.outputs
    return results[0]["data"]["text/plain"]


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=60,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return {c.id: c for c in nb.cells}


def test_notebook_is_valid_and_for_cnote():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata.kernelspec.name == "cnote"
    assert nb.metadata.kernelspec.language == "c"
    assert any(c.cell_type == "markdown" for c in nb.cells)


def test_no_cell_fails(executed):
    for cid, cell in executed.items():
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o["output_type"] == "error"]
            assert not errors, (cid, errors)
            assert cell.execution_count is not None, cid


def test_definitions_cell_is_silent(executed):
    outs = [o for o in executed["types-and-functions"].outputs if o["output_type"] != "stream"
            or o["name"] != "stderr"]
    assert outs == [], outs


def test_state_and_function_across_cells(executed):
    assert stdout_of(executed["state"]) == "distance = 5\n"


def test_trailing_value(executed):
    assert result_of(executed["trailing-value"]) == "81"


def test_function_over_earlier_global(executed):
    assert result_of(executed["function-over-state"]) == "285"


def test_display_html(executed):
    shown = [o for o in executed["display"].outputs if o["output_type"] == "display_data"]
    assert len(shown) == 1, executed["display"].outputs
    assert shown[0]["data"]["text/html"] == "<b>sum of squares = 285</b>"


def test_double_value_with_compound_literal(executed):
    assert result_of(executed["double-value"]) == "5"


def test_execution_counts_increase(executed):
    counts = [c.execution_count for c in executed.values() if c.cell_type == "code"]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts
