"""exercises/ is generated from solutions/ (python -m vae_teach.tools.nbtools exercises): it must be in
sync, stubbed where the solutions are, and stop at its first stub with NotImplementedError."""
from __future__ import annotations

import filecmp
from pathlib import Path

import nbformat
import pytest

from vae_teach.tools import nbtools

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = ROOT / "exercises"


def test_there_is_an_exercise_set_per_chapter():
    chapters = {p.name[:2] for p in SOLUTIONS}
    assert chapters == {"01", "02", "03", "04", "05", "06", "07", "09", "10", "11", "12", "13", "14", "15", "16"}


def test_exercises_are_in_sync_with_solutions(tmp_path):
    """Fails when a solution changed without `python -m vae_teach.tools.nbtools exercises`."""
    nbtools.make_exercises(ROOT / "solutions", tmp_path)
    fresh = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    stored = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert stored == fresh, "exercises/ and solutions/ list different notebooks: regenerate"
    stale = [n for n in fresh if not filecmp.cmp(tmp_path / n, EXERCISES / n, shallow=False)]
    assert not stale, (f"exercises out of date with solutions: {stale}; run "
                       "`python -m vae_teach.tools.nbtools exercises`")


def test_sync_check_notices_a_changed_solution(tmp_path):
    sol = tmp_path / "solutions"
    sol.mkdir()
    src = nbformat.read(SOLUTIONS[0], as_version=4)
    nbformat.write(src, sol / SOLUTIONS[0].name)
    nbtools.make_exercises(sol, tmp_path / "a")
    src.cells[0].source += "\n\nOne more sentence."
    nbformat.write(src, sol / SOLUTIONS[0].name)
    nbtools.make_exercises(sol, tmp_path / "b")
    assert not filecmp.cmp(tmp_path / "a" / SOLUTIONS[0].name, tmp_path / "b" / SOLUTIONS[0].name, shallow=False)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_exercise_notebooks_have_stubs_no_solutions_and_no_outputs(path):
    ex = nbformat.read(EXERCISES / path.name, as_version=4)
    sol = nbformat.read(path, as_version=4)
    n_blocks = sum(c.source.count("### BEGIN SOLUTION") for c in sol.cells if c.cell_type == "code")
    text = "\n".join(c.source for c in ex.cells)
    code = "\n".join(c.source for c in ex.cells if c.cell_type == "code")
    assert n_blocks >= 2
    assert code.count("raise NotImplementedError(") == n_blocks
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for c in ex.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
        assert "hide-input" not in c.metadata.get("tags", [])


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_cells_are_folded_in_the_book(path):
    sol = nbformat.read(path, as_version=4)
    for c in sol.cells:
        if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source:
            assert "hide-input" in c.metadata.get("tags", []), c.source[:80]


def test_stub_keeps_indentation_and_hint():
    src = "def f(x):\n    ### BEGIN SOLUTION: use x + 1\n    return x + 1\n    ### END SOLUTION\n"
    assert nbtools.strip_solution_code(src) == "def f(x):\n    raise NotImplementedError('use x + 1')\n"


@pytest.mark.parametrize("src, msg", [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "needs a hint"),
    ("### BEGIN SOLUTION: h\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION", "without a BEGIN"),
    ("### BEGIN SOLUTION: h\n### BEGIN SOLUTION: h\n### END SOLUTION", "nested"),
])
def test_malformed_markers_are_errors(src, msg):
    with pytest.raises(ValueError, match=msg):
        nbtools.strip_solution_code(src)


def test_missing_solutions_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no solutions folder"):
        nbtools.make_exercises(tmp_path / "nope", tmp_path / "out")


def _first_stub_hint(nb) -> str:
    import re
    for c in nb.cells:
        m = re.search(r"raise NotImplementedError\((['\"])(.*?)\1\)", c.source)
        if c.cell_type == "code" and m:
            return m.group(2)
    raise AssertionError("no stub")


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_exercise_notebook_stops_at_its_first_stub(path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nbtools.test_environment()
    nb = nbformat.read(EXERCISES / path.name, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(EXERCISES)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert err.value.ename == "NotImplementedError", f"{err.value.ename}: {err.value.evalue}"
    assert err.value.evalue == _first_stub_hint(nb)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    assert any(o.get("output_type") == "error" for o in ran[-1].outputs)


def test_the_appendix_states_the_true_counts_and_links_every_set():
    import re
    from vae_teach.checks import TASKS, catalogue
    page = (ROOT / "book" / "exercises.md").read_text()
    sets = len({t.chapter for t in TASKS.values()})
    assert f"**{sets} sets, {len(TASKS)} tasks**" in page
    assert f"**{len(catalogue())} catalogued wrong answers**" in page
    assert sets == len(SOLUTIONS)
    for p in SOLUTIONS:
        assert f"<../exercises/{p.name}>" in page and f"(../solutions/{p.name})" in page
    # every checker is called by a solution notebook, exactly once
    calls = re.findall(r"checks\.check_(\w+)\(", "\n".join(
        c.source for p in SOLUTIONS for c in nbformat.read(p, as_version=4).cells))
    assert sorted(calls) == sorted(TASKS)
