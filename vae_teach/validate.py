"""Input validation shared by the package: clear errors instead of deep torch tracebacks."""
from __future__ import annotations

import torch


def as_tensor(name: str, value) -> torch.Tensor:
    """Accept tensors and Python numbers; reject anything else with a message naming the argument."""
    if torch.is_tensor(value):
        return value
    if isinstance(value, (int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    raise TypeError(f"{name} must be a torch.Tensor or a number, got {type(value).__name__}")


def same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; "
                         "they must match")


def batched(name: str, t: torch.Tensor, min_dim: int = 2) -> None:
    if t.dim() < min_dim:
        raise ValueError(f"{name} must have a leading batch dimension (at least {min_dim} dims), "
                         f"got shape {tuple(t.shape)}")


def in_unit_interval(name: str, t: torch.Tensor) -> None:
    if t.numel() and (float(t.detach().min()) < 0.0 or float(t.detach().max()) > 1.0):
        raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli likelihood / BCE, got range "
                         f"[{float(t.detach().min()):.3g}, {float(t.detach().max()):.3g}]; scale images to [0, 1] "
                         "(e.g. pixel / 255) or use MSE")


def check_reduction(reduction) -> str:
    """``reduction`` is "mean" (over images), "sum" (over images) or "none" (per image ``[N]``)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def float_tensor(name: str, t) -> None:
    """Refuse integer / bool tensors: arithmetic on uint8 wraps around (10 - 200 = 66) instead of failing."""
    if not torch.is_tensor(t):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not (t.is_floating_point() or t.is_complex()):
        raise TypeError(f"{name} must be a float tensor, got dtype {t.dtype}; convert it first, "
                        f"e.g. {name}.float() / 255 for uint8 pixels")


def finite(name: str, t: torch.Tensor, what: str = "") -> None:
    """Refuse NaN / inf, saying how many and where the first one is (the data, not the optimiser)."""
    bad = ~torch.isfinite(t.detach())
    if bad.any():
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at index {first})"
                         f"{what}; clean the data first (e.g. drop those rows, or torch.nan_to_num)")


def real_number(name: str, value, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number (Python, numpy or 0-dim tensor), optionally ``>= minimum`` (``> minimum`` if strict)."""
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"need {name} {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return v


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """A whole number (2.0 is fine, 2.5 and True are not), optionally ``>= minimum``."""
    if (torch.is_tensor(value) or hasattr(value, "dtype")) and hasattr(value, "item"):
        if (value.numel() if torch.is_tensor(value) else value.size) != 1:
            raise TypeError(f"{name} must be an integer, got an array of shape {tuple(value.shape)}")
        value = value.item()  # a one-element tensor / numpy scalar: judge the number inside
    if isinstance(value, bool) or not hasattr(value, "__index__") and not (
            isinstance(value, float) and value.is_integer()):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"need {name} >= {minimum}, got {v}")
    return v


def atomic_write(path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, then rename it onto ``path``.

    The rename is atomic on one file system, so ``path`` holds either its old content or the
    complete new one: a save that fails half-way (an unpicklable value, a full disk, Ctrl-C)
    leaves the previous file intact.
    """
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
