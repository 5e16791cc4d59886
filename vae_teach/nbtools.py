"""Maintainer tools for the notebooks: execute them in place so stored outputs are a full run.

    python -m vae_teach.nbtools execute book/05_vae_mnist.ipynb [more.ipynb ...]

Runs every cell top to bottom in a fresh kernel with the same environment as the tests
(``VAE_TEACH_QUIET=1``, data root from ``$VAE_TEACH_DATA`` or ``../shared/data``), with the
notebook's own folder as working directory, and writes the outputs back. Prints the wall time.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_environment() -> None:
    os.environ.setdefault("VAE_TEACH_QUIET", "1")
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
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "execute" or len(argv) < 2:
        print(__doc__)
        return 2
    for p in argv[1:]:
        s = execute(p)
        print(f"{p}: executed in {s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
