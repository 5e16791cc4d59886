"""``zoo train --jobs N``: train several zoo models at once, one process per model, the machine's cores split
between them: the zoo's small networks do not run twice as fast on two threads as on one (an IWAE k = 5 step at batch
128 on an Intel Xeon: 784-400-20 26 ms on one thread, 16-18 ms on two; 784-200-200-50 20-24 and 13-16 ms), so two
one-thread runs side by side finish a list sooner than one two-thread run after another.

A model whose spec starts from another zoo model (a warm restart's ``init_from``, a code prior's VQ-VAE) waits
until that parent has been trained in the same call.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from . import specs


def parents(name: str) -> list[str]:
    """The zoo models ``name``'s training loads: they must be trained (and shipped) first."""
    s = specs.get(name)
    return [p for p in (s.recipe.get("init_from"), s.model.get("vqvae")) if p]


def order(names: list[str]) -> list[str]:
    """``names`` with every parent that is also in ``names`` moved before its children (otherwise kept in order)."""
    done: list[str] = []
    wanted = set(names)

    def visit(n: str, path: tuple) -> None:
        if n in done:
            return
        if n in path:
            raise ValueError(f"the zoo specs {' -> '.join(path + (n,))} start from each other in a cycle")
        for p in parents(n):
            if p in wanted:
                visit(p, path + (n,))
        done.append(n)

    for n in names:
        visit(n, ())
    return done


def train_parallel(names: list[str], jobs: int, cores: int | None = None, poll: float = 2.0,
                   log_dir: str | Path = "runs/zoo") -> int:
    """Train ``names`` in ``jobs`` processes of ``cores // jobs`` threads each (``python -m vae_teach zoo train NAME``),
    each writing its output to ``log_dir/NAME.log``. Prints one line per finished model; returns 0 if all succeeded,
    else 1 (no new model starts after a failure)."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    cores = cores or os.cpu_count() or 1
    threads = max(1, cores // jobs)
    pending, running, finished, failed, logs = order(names), {}, set(), [], {}
    log_dir = Path(log_dir)
    t0 = time.perf_counter()
    while pending or running:
        for n, proc in list(running.items()):
            if proc.poll() is not None:
                del running[n]
                ok = proc.returncode == 0
                (finished.add if ok else failed.append)(n)
                print(f"[{(time.perf_counter() - t0) / 60:6.1f} min] {n}: "
                      + ("done" if ok else f"FAILED (exit {proc.returncode}; its output: {logs[n]})"), flush=True)
        if failed:
            pending = []
        ready = [n for n in pending if not any(p in pending or p in running for p in parents(n))]
        while ready and len(running) < jobs:
            n = ready.pop(0)
            pending.remove(n)
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            logs[n] = log_dir / f"{n}.log"  # one file per model: two progress bars would garble one terminal
            log_dir.mkdir(parents=True, exist_ok=True)
            with open(logs[n], "w") as log:
                running[n] = subprocess.Popen([sys.executable, "-m", "vae_teach", "zoo", "train", n], env=env,
                                              stdout=log, stderr=subprocess.STDOUT)
        if running:
            time.sleep(poll)
    print(f"zoo train: {len(finished)} model(s) in {(time.perf_counter() - t0) / 60:.1f} min with {jobs} job(s) of "
          f"{threads} thread(s)" + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0
