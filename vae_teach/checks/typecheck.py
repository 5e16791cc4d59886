"""Type discipline: where a tensor is expected, a list, a float or a numpy array is refused by name (and so on
for each output type a task declares in ``Task.returns``)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .compare import describe
from .core import Task, fail


def _type_problem(kind: str, item: Any, expect: str) -> str | None:
    if item is None or isinstance(item, (str, bytes)):
        return f"expected {expect}, got {describe(item)}"
    if kind == "tensor":
        if torch.is_tensor(item):
            return None
        if isinstance(item, (list, tuple)):
            return (f"expected {expect}, got {describe(item)}: return a torch tensor (torch.stack a list of "
                    "tensors); a list has no shape and no autograd graph")
        if isinstance(item, np.ndarray):
            return (f"expected {expect}, got {describe(item).replace('an array', 'a numpy array')}: return a torch tensor; a numpy "
                    "round trip (.numpy(), np.* functions) cuts the autograd graph")
        if isinstance(item, (int, float, complex, np.number)):
            return (f"expected {expect}, got a Python number ({describe(item)}): return the tensor itself, "
                    "without .item() or float()")
        return f"expected {expect}, got {describe(item)}"
    if kind == "ndarray":
        if isinstance(item, np.ndarray):
            return None
        if torch.is_tensor(item):
            return f"expected {expect}, got {describe(item)}: this task works in numpy; return numpy arrays"
        return f"expected {expect}, got {describe(item)}: return numpy arrays (np.asarray)"
    # "float" and "int": a Python (or numpy) number
    if torch.is_tensor(item):
        conv = "float(t)" if kind == "float" else "int(t)"
        return f"expected {expect}, got {describe(item)}: convert it to a Python number with {conv} (or t.item())"
    if isinstance(item, np.ndarray) and item.ndim > 0:
        return f"wrong shape: expected {expect}, got {describe(item)}"
    if isinstance(item, bool) or not isinstance(item, (int, float, complex, np.number, np.ndarray)):
        return f"expected {expect}, got {describe(item)}"
    if kind == "int" and not isinstance(item, (int, np.integer)):
        if not np.all(np.isfinite(np.asarray(item))):
            return "the result contains NaN or inf; look for a division by zero or a variance of too few values"
        return f"expected {expect}, got {describe(item)}: count with int(...) so the answer is a Python int"
    return None


def check_type(task: Task, out: Any) -> None:
    """Refuse an output of the wrong type (a list or float where a tensor is expected, ...) by name."""
    kinds = task.returns
    if len(kinds) > 1:
        if not isinstance(out, tuple) or len(out) != len(kinds):
            hint = ": return a tuple, e.g. `return a, b`" if isinstance(out, list) and len(out) == len(kinds) else ""
            raise fail(task, f"expected {task.expect}, got {describe(out)}{hint}")
        items = list(out)
    else:
        items = [out]
    for i, (kind, item) in enumerate(zip(kinds, items)):
        problem = _type_problem(kind, item, task.expect)
        if problem:
            where = f"(in the {ordinal(i)} element of the tuple) " if len(kinds) > 1 else ""
            raise fail(task, where + problem)


def ordinal(i: int) -> str:
    return ["first", "second", "third", "fourth"][i] if i < 4 else f"#{i + 1}"
