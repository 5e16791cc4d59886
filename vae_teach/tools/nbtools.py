"""Maintainer tools for the notebooks: execute them in place so stored outputs are a full run.

    python -m vae_teach.tools.nbtools execute book/05_vae_mnist.ipynb [more.ipynb ...]
    python -m vae_teach.tools.nbtools exercises [--out DIR]

``exercises`` regenerates ``exercises/`` from ``solutions/`` (see :func:`make_exercises`).

Runs every cell top to bottom in a fresh kernel with the same environment as the tests
(``VAE_TEACH_QUIET=1``, data root from ``$VAE_TEACH_DATA`` or ``../shared/data``), with the
notebook's own folder as working directory, and writes the outputs back. Prints the wall time.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_environment() -> None:
    os.environ.setdefault("VAE_TEACH_QUIET", "1")
    os.environ.setdefault("VAE_TEACH_OFFLINE", "1")  # as under pytest: stored outputs never show a download
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    shared = ROOT.parent / "shared" / "data"
    if "VAE_TEACH_DATA" not in os.environ and shared.is_dir():
        os.environ["VAE_TEACH_DATA"] = str(shared)


def execute(path: str | os.PathLike, timeout: int = 1200) -> float:
    """Execute a notebook in place; returns the wall time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    test_environment()
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    nbformat.write(nb, path)
    return seconds


# ----------------------------------------------------------------------- exercises from solutions
#
# One source of truth: ``solutions/NN_topic.ipynb`` holds each exercise set with its solutions
# between markers, and ``exercises/NN_topic.ipynb`` is generated from it:
#
#   code cells      ###  BEGIN SOLUTION: <hint>      the block up to ``### END SOLUTION`` becomes
#                   ...                              ``raise NotImplementedError("<hint>")`` at the
#                   ### END SOLUTION                 indentation of the BEGIN line
#   markdown cells  <!-- BEGIN SOLUTION --> ... <!-- END SOLUTION -->  removed (written answers)
#   any cell        tag ``solution-only``            removed
#
# Exercise notebooks are stored without outputs, execution counts or cell metadata other than tags
# (minus ``hide-input``, which folds the solution cells in the rendered book), and with only the
# kernelspec as notebook metadata, so the same solutions always give byte-identical exercises.

BEGIN_CODE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?::[ \t]*(?P<hint>.*?))?[ \t]*$")
END_CODE = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
MD_BLOCK = re.compile(r"[ \t]*<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->[ \t]*\n?", re.S)
SOLUTION_TAGS = {"hide-input", "solution-only"}


def strip_solution_code(source: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION: hint`` ... ``### END SOLUTION`` block with a stub.

    Raises ValueError for an unclosed or nested block, or a block without a hint.
    """
    out: list[str] = []
    inside = False
    for line in source.split("\n"):
        begin, end = BEGIN_CODE.match(line), END_CODE.match(line)
        if begin:
            if inside:
                raise ValueError(f"{where}: nested '### BEGIN SOLUTION'")
            hint = begin.group("hint")
            if not hint:
                raise ValueError(f"{where}: '### BEGIN SOLUTION' needs a hint: '### BEGIN SOLUTION: <hint>'")
            out.append(f"{begin.group('indent')}raise NotImplementedError({hint!r})")
            inside = True
        elif end:
            if not inside:
                raise ValueError(f"{where}: '### END SOLUTION' without a BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '### BEGIN SOLUTION' is never closed by '### END SOLUTION'")
    return "\n".join(out)


def exercise_notebook(solution):
    """The exercise version (a new NotebookNode) of a solution notebook (NotebookNode)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": solution.metadata.get("kernelspec", {
        "display_name": "Python 3", "language": "python", "name": "python3"})}
    for i, cell in enumerate(solution.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "solution-only" in tags:
            continue
        keep = [t for t in tags if t not in SOLUTION_TAGS]
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(strip_solution_code(cell.source, f"cell {i}"))
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(MD_BLOCK.sub("", cell.source))
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        new.id = cell.get("id", f"cell-{i}")
        if keep:
            new.metadata["tags"] = keep
        nb.cells.append(new)
    return nb


def make_exercises(solutions: str | os.PathLike = ROOT / "solutions",
                   out: str | os.PathLike = ROOT / "exercises") -> list[Path]:
    """Write ``out/NN_topic.ipynb`` for every ``solutions/NN_topic.ipynb``; returns the paths written.

    Exercise notebooks whose solution no longer exists are removed, so ``out`` mirrors ``solutions``.
    """
    import nbformat

    solutions, out = Path(solutions), Path(out)
    if not solutions.is_dir():
        raise FileNotFoundError(f"no solutions folder at {solutions}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    sources = sorted(solutions.glob("*.ipynb"))
    names = {p.name for p in sources}
    for stale in out.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    for src in sources:
        nb = exercise_notebook(nbformat.read(src, as_version=4))
        dst = out / src.name
        nbformat.write(nb, dst)
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "exercises":
        out = ROOT / "exercises"
        if len(argv) == 3 and argv[1] == "--out":
            out = Path(argv[2])
        elif len(argv) != 1:
            print(__doc__)
            return 2
        for p in make_exercises(ROOT / "solutions", out):
            print(f"wrote {p.relative_to(out.parent) if out.parent in p.parents else p}")
        return 0
    if not argv or argv[0] != "execute" or len(argv) < 2:
        print(__doc__)
        return 2
    for p in argv[1:]:
        s = execute(p)
        print(f"{p}: executed in {s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
