"""Progress bars that show in Jupyter and stay silent under CI / nbval.

Set ``VAE_TEACH_QUIET=1`` to silence every bar (the test suite does this, so
stored notebook outputs never contain progress bars).
"""
from __future__ import annotations

import os
from typing import Iterable, TypeVar

T = TypeVar("T")

QUIET_ENV = "VAE_TEACH_QUIET"


def quiet() -> bool:
    """True when progress bars are switched off (``VAE_TEACH_QUIET`` set to a true value)."""
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", leave: bool = False):
    """Wrap ``iterable`` in tqdm's auto bar (notebook widget in Jupyter), or return it as is when quiet."""
    if quiet():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=leave)
