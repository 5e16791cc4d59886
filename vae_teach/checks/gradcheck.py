"""Gradient checks for tasks whose output is meant to be differentiated (losses, KLs, ELBO terms, z).

An answer with the right numbers can still be useless for training: ``.detach()`` inside
``reparameterize``, a ``torch.no_grad()`` block, ``.item()`` and ``torch.tensor(...)`` to rebuild a
tensor, or a numpy round trip all cut the autograd graph. So after the values match, the task's
``grad`` arguments are passed as leaves that require grad, a fixed random projection
``sum_i w_i * out_i`` of the output is back-propagated, and each gradient is compared with the
reference's. The message names the output that is cut off and the input whose gradient is missing
or wrong.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .core import Task, _TimeLimit, _with_time_limit, fail
from . import core

_CUTS = ("`.detach()`, `.data`, a `torch.no_grad()` block, `.item()` / `float()` and `torch.tensor(...)` to "
         "rebuild a tensor, or a numpy round trip")


def _leaves(args: tuple, idx: list[int]) -> tuple:
    return tuple(a.detach().clone().requires_grad_(True) if i in idx else
                 (a.detach().clone() if torch.is_tensor(a) else a) for i, a in enumerate(args))


def _as_list(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def check_gradients(task: Task, fn: Callable, cases: list[tuple]) -> None:
    """Back-propagate through the student's answer; raise CheckFailed if a gradient is missing or wrong."""
    idx = [task.args.index(n) for n in task.grad]
    names = ", ".join(f"`{n}`" for n in task.grad)
    point = (" In `reparameterize` that is the whole point of the trick: z must stay a differentiable "
             "function of mu and logvar." if "eps" in task.args and "mu" in task.grad else "")
    point = f" {task.grad_hint}" if task.grad_hint else point
    for args in cases:
        mine, theirs = _leaves(args, idx), _leaves(args, idx)
        try:
            out = _with_time_limit(fn, mine, core.TIME_LIMIT)
        except NotImplementedError:
            raise
        except _TimeLimit:
            raise fail(task, f"your values are right, but with inputs that require gradients ({names}) your function "
                             f"did not return within {core.TIME_LIMIT:g} s.") from None
        except Exception as e:  # noqa: BLE001 - report whatever the student's code raised
            raise fail(task, f"your values are right, but with inputs that require gradients ({names}, as in "
                             f"training) your function raised {type(e).__name__}: {e}") from e
        ref = task.reference(*theirs)
        g = torch.Generator().manual_seed(0)
        total_mine, total_ref = 0.0, 0.0
        for i, (o, r) in enumerate(zip(_as_list(out), _as_list(ref))):
            if not (torch.is_tensor(r) and r.requires_grad):
                continue
            which = (f"`{task.outputs[i]}` (the element {i + 1} of your tuple)" if isinstance(out, tuple)
                     and i < len(task.outputs) else "your result")
            if not o.requires_grad:
                raise fail(task, f"the values are right, but {which} is not connected to the autograd graph: no "
                                 f"gradient can flow back to {names}. Something cut the graph: {_CUTS}.{point}")
            w = torch.randn(r.shape, generator=g, dtype=torch.float64)
            total_mine = total_mine + (o.to(torch.float64) * w).sum()
            total_ref = total_ref + (r.to(torch.float64) * w).sum()
        if not torch.is_tensor(total_ref):
            continue
        leaves_mine = [mine[i] for i in idx]
        grads_mine = torch.autograd.grad(total_mine, leaves_mine, allow_unused=True)
        grads_ref = torch.autograd.grad(total_ref, [theirs[i] for i in idx], allow_unused=True)
        for name, gm, gr in zip(task.grad, grads_mine, grads_ref):
            if gr is None or not bool(gr.any()):
                continue
            if gm is None or not bool(gm.any()):
                raise fail(task, f"the values are right, but no gradient reaches `{name}` (it gets "
                                 f"{'none' if gm is None else 'only zeros'}): between `{name}` and the result the "
                                 f"graph is cut by {_CUTS}.{point}")
            scale = float(gr.abs().max())  # float32 arithmetic in the answer is fine: compare relative to the size
            if gm.shape != gr.shape or not torch.allclose(gm.to(torch.float64), gr, rtol=1e-4, atol=1e-5 * scale):
                worst = float((gm.to(torch.float64) - gr).abs().max()) if gm.shape == gr.shape else float("nan")
                why = ("" if task.grad_hint else f": part of the computation that depends on `{name}` is hidden "
                       f"from autograd ({_CUTS}) on one term only")
                raise fail(task, f"the values are right, but the gradient with respect to `{name}` is wrong "
                                 f"(largest difference {worst:.3g}){why}.{point}")
