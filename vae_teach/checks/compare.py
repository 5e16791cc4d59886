"""Comparing answers: outputs flattened to numpy arrays, compared with a tolerance, described in words."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_arrays(out: Any) -> list[np.ndarray] | None:
    """Flatten an output (tensor, array, number, or tuple of them) into numpy arrays.

    Returns None when something in it is not numeric (None, a string, a list of strings, ...).
    Complex values stay complex so that a complex result can be told from a real one.
    """
    items = list(out) if isinstance(out, tuple) else [out]
    arrays = []
    for item in items:
        if torch.is_tensor(item):
            item = item.detach().cpu()
            arrays.append(item.numpy() if not item.is_complex() else item.numpy().astype(np.complex128))
            continue
        if isinstance(item, bool) or item is None or isinstance(item, (str, bytes)):
            return None
        try:
            a = np.asarray(item)
        except Exception:  # noqa: BLE001 - anything unconvertible is "not numeric"
            return None
        if a.dtype.kind not in "iufc":
            return None
        arrays.append(a)
    return arrays


def as64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)


def close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """``np.allclose`` for same-shape (or scalar-broadcast) arrays, without its overhead: the diagnoses call
    it dozens of times per check. Equal infinities count as close; NaNs only with ``equal_nan``."""
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (np.abs(a - b) <= atol + rtol * np.abs(b)) & np.isfinite(a) & np.isfinite(b)
        ok |= a == b  # equal infinities
        if equal_nan:
            ok |= np.isnan(a) & np.isnan(b)
    return bool(ok.all())


def matches(out: list[np.ndarray], target: list[np.ndarray], rtol: float, atol: float,
            equal_nan: bool = False) -> bool:
    if len(out) != len(target):
        return False
    for a, b in zip(out, target):
        if a.shape != b.shape or np.iscomplexobj(a) != np.iscomplexobj(b):
            return False
        if not close(as64(a), as64(b), rtol=rtol, atol=atol, equal_nan=equal_nan):
            return False
    return True


def describe(out: Any) -> str:
    if isinstance(out, tuple):
        return "a tuple of " + ", ".join(describe(o) for o in out)
    if torch.is_tensor(out):
        return f"a tensor of shape {list(out.shape)} (dtype {str(out.dtype).replace('torch.', '')})"
    if isinstance(out, np.ndarray):
        return f"an array of shape {list(out.shape)} (dtype {out.dtype})"
    if isinstance(out, list):
        return f"a Python list of {len(out)} item{'s' if len(out) != 1 else ''}"
    return f"{type(out).__name__} {out!r}" if isinstance(out, (int, float, complex)) else type(out).__name__
