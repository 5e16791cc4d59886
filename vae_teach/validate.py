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
