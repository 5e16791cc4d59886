"""nbval silently skips the comparison of a cell that was never executed, and of skipped cells.

So: every code cell in book/ and solutions/ must carry a stored execution (an execution count,
in order), no cell may be skipped, and no stored output may be an error.
"""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("book", "solutions") for p in (ROOT / folder).glob("*.ipynb"))


def _code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert any(p.parent.name == "book" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_code_cell_has_a_stored_execution_in_order(path):
    counts = [c.get("execution_count") for c in _code_cells(path)]
    missing = [i for i, n in enumerate(counts) if n is None]
    assert not missing, f"{path.name}: code cells {missing} were never executed; run python -m vae_teach.tools.nbtools execute"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells were not run top to bottom once: {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_skipped_cells_and_no_stored_errors(path):
    for i, c in enumerate(_code_cells(path)):
        src = "".join(c["source"])
        assert "NBVAL_SKIP" not in src and "nbval-skip" not in c.get("metadata", {}).get("tags", []), \
            f"{path.name}: cell {i} is skipped by nbval, so it tests nothing"
        assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), \
            f"{path.name}: cell {i} stored an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_nbval_markers_are_exact_so_they_take_effect(path):
    # nbval only honours a marker comment that is exactly "# NBVAL_IGNORE_OUTPUT" (etc.) on its line:
    # "# NBVAL_IGNORE_OUTPUT (because ...)" is silently ignored. Put the reason on the next line.
    for i, c in enumerate(_code_cells(path)):
        for line in "".join(c["source"]).splitlines():
            s = line.strip()
            if s.startswith("#") and "NBVAL_" in s:
                assert s.lstrip("#").strip() in ("NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT",
                                                 "NBVAL_RAISES_EXCEPTION"), \
                    f"{path.name}: cell {i} has a marker nbval will not see: {s!r}"
