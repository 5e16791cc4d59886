"""Generic diagnoses: what is wrong with an answer that matches neither the reference nor a catalogued mistake.

They need no catalogue entry; each reads only the task's spec (:class:`.core.Task`): the argument
names, the expected output types, the unreduced ``terms`` and their ``reduce``, the dimension labels.
In the order tried (the wrong type is refused before, by :mod:`.typecheck`): a tuple whose elements are
right but in the wrong order; the wrong shape (with the dimensions reduced, when that tells); a complex
result; NaN/inf; two calls with the same inputs that disagree (own random noise); the wrong dimensions
reduced; a constant factor or offset (named when it is a recognisable constant: 2, 1/2, -1, a dimension
size, log(2 pi)/2 per element, ...); the right numbers in the wrong places; an argument the answer
ignores; a value that is close but rounded.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np
import torch

from .compare import as64, close, describe, matches, to_arrays
from .core import CheckFailed, Task, call, fail, fresh
from .typecheck import ordinal as _ordinal

LOG2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- dimension reduced

def _apply(t: torch.Tensor, plan: dict[int, str]) -> torch.Tensor:
    nd = t.dim()
    for d in sorted(plan, reverse=True):  # the rightmost first, indexed from the left: the others keep their index
        t = t.sum(nd + d) if plan[d] == "sum" else t.mean(nd + d)
    return t


def _plan_text(task: Task, plan: dict[int, str], shape: tuple[int, ...]) -> str:
    ndim = len(shape)
    plan = {d: op for d, op in plan.items() if shape[d] > 1}  # summing or averaging a size-1 dimension changes no value
    if not plan:
        return "the terms with no reduction at all (one value per element)"
    labels = task.dims[-ndim:] if task.dims and len(task.dims) >= ndim else tuple(f"dim {d}" for d in range(ndim))
    parts = []
    for op in ("sum", "mean"):
        names = []
        for label in dict.fromkeys(labels):
            have = [d for d in range(ndim) if labels[d] == label and shape[d] > 1]
            mine = [d for d in have if plan.get(d - ndim) == op]
            if mine:
                only = f" (only dim{'s' if len(mine) > 1 else ''} {', '.join(map(str, mine))})" if len(mine) < len(have) else ""
                names.append(label + only)
        if names:
            parts.append(f"a {op} over {' and '.join(names)}")
    return " and ".join(parts) + " of the terms"


def _wrong_reduction(task: Task, cases: list, out_arrays: list, ref_arrays: list) -> str | None:
    """Compare the answer with the terms reduced (sum, mean or kept) over every combination of dimensions,
    on the first test case it gets wrong."""
    if task.terms is None or len(task.returns) != 1:
        return None
    wrong = [(args, oa) for args, oa, ra in zip(cases, out_arrays, ref_arrays)
             if not matches(oa, ra, task.rtol, task.atol)]
    for args, oa in wrong[:1]:
        terms = task.terms(*fresh(args))
        nd = terms.dim()
        target = {d: op for d, op in task.reduce.items() if -nd <= d}
        for choice in itertools.product(("keep", "sum", "mean"), repeat=nd):
            plan = {d - nd: op for d, op in enumerate(choice) if op != "keep"}
            kept = tuple(n for n, op in zip(terms.shape, choice) if op == "keep")
            if plan == target or kept != oa[0].shape:
                continue
            alt = _apply(terms, plan).numpy()
            if alt.shape == oa[0].shape and close(as64(oa[0]), alt, rtol=1e-6, atol=1e-8):
                mine, want = _plan_text(task, plan, tuple(terms.shape)), _plan_text(task, target, tuple(terms.shape))
                if mine == want:
                    return (f"Your values are right, but your result keeps a dimension of size 1 (shape "
                            f"{list(alt.shape)}): reduce over it too (e.g. .flatten(1) first) or .squeeze() it.")
                return f"Your result is {mine}; the task asks for {want}."
    return None


# ----------------------------------------------------------------------- constant factor / offset

def _sizes(task: Task, args: tuple) -> list[tuple[int, str]]:
    """(size, what it is) for every dimension size of the inputs, and the pixel count of image inputs."""
    found: dict[int, str] = {}
    for i, a in enumerate(args):
        name = task.args[i] if i < len(task.args) else f"argument {i + 1}"
        shape = tuple(a.shape) if torch.is_tensor(a) or isinstance(a, np.ndarray) else ()
        labels = task.dims[-len(shape):] if task.dims and len(shape) <= len(task.dims) else ()
        for d, n in enumerate(shape):
            if n > 1 and n not in found:
                lab = f"{labels[d]} = {n}, " if labels and labels[d] != "pixels" else ""
                found[n] = f"{lab}the size of dimension {d} of `{name}`"
        if len(shape) == 4 and math.prod(shape[1:]) not in found:
            found[math.prod(shape[1:])] = f"{math.prod(shape[1:])}, the number of pixels of an image in `{name}`"
    return sorted(found.items())


def _constant(task: Task, args: tuple, a: np.ndarray, r: np.ndarray) -> str | None:
    a, r = as64(a).real.ravel(), as64(r).real.ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        return None
    sizes = _sizes(task, args)
    scale = max(1.0, float(np.max(np.abs(r))))
    mask = np.abs(r) > 1e-9 * scale
    if mask.any() and close(a[~mask], 0.0, rtol=0.0, atol=1e-9 * scale):
        ratio = a[mask] / r[mask]
        c = float(ratio.mean())
        if np.all(a == 0):
            return ("your result is zero everywhere, the reference is not: it cannot depend on the inputs (a quantity "
                    "compared with itself, or a factor that is 0).")
        if close(ratio, c, rtol=1e-7, atol=0.0) and abs(c - 1) > 1e-6:
            named = [(2.0, "a factor 2: a 1/2 is missing (or a term is counted twice)"),
                     (0.5, "a factor 1/2: an extra 1/2 (or a 2 missing)"),
                     (-1.0, "a factor -1: the sign is flipped"),
                     (-2.0, "a factor -2: the sign is flipped and a 1/2 is missing"),
                     (-0.5, "a factor -1/2: the sign is flipped and there is an extra 1/2")]
            for n, what in sizes:
                named += [(float(n), f"a factor {n} ({what}): a sum where the task says mean"),
                          (1.0 / n, f"a factor 1/{n} ({what}): a mean where the task says sum"),
                          (-float(n), f"a factor -{n} ({what}): the sign is flipped and a sum where the task says mean"),
                          (-1.0 / n, f"a factor -1/{n} ({what}): the sign is flipped and a mean where the task says sum")]
            for value, what in named:
                if math.isclose(c, value, rel_tol=1e-6):
                    return f"your result is the reference times exactly {c:.6g}, {what}."
            if a.size > 1:
                return (f"your result is the reference times {c:.6g} for every value: one constant factor is "
                        "wrong (a scale, a 1/2, or a sum / mean over a dimension).")
    diff = a - r
    c = float(diff.mean())
    if abs(c) > 1e-9 and close(diff, c, rtol=0.0, atol=1e-7 * max(1.0, abs(c))):
        named = [(1.0, "1"), (0.5, "1/2"), (LOG2PI, "log(2 pi)"), (0.5 * LOG2PI, "log(2 pi)/2"), (math.log(2), "log 2")]
        for n, what in sizes:
            named += [(n * 0.5 * LOG2PI, f"{n} x log(2 pi)/2 ({what}), the Gaussian's log(2 pi)/2 once per element"),
                      (n * LOG2PI, f"{n} x log(2 pi) ({what}), log(2 pi) without its 1/2 once per element"),
                      (n * 0.5, f"{n} x 1/2 ({what}), a constant such as the -1 inside 1/2(...) once per element"),
                      (math.log(n), f"log {n} ({what})")]
        for i, v in enumerate(args):
            if isinstance(v, float) and v > 0 and i < len(task.args):
                for n, what in [(1, "")] + sizes:
                    named.append((n * 0.5 * math.log(v), f"{n if n > 1 else ''}{' x ' if n > 1 else ''}"
                                  f"log({task.args[i]})/2"))
        side = "above" if c > 0 else "below"
        for value, what in named:
            if math.isclose(abs(c), value, rel_tol=1e-6):
                return (f"your result is {side} the reference by exactly {abs(c):.6g} for every value, which is "
                        f"{what}: a constant term is missing, doubled, or has the wrong sign.")
        if a.size > 1:
            return (f"your result is {side} the reference by exactly {abs(c):.6g} for every value: a constant "
                    "term is missing, doubled, or has the wrong sign.")
    return None


# ------------------------------------------------------------------------- ignored / random / rounded

def _perturb(a: Any, g: torch.Generator) -> Any:
    if torch.is_tensor(a) and a.is_floating_point():
        if bool((a > 0).all()):
            return a * 1.3
        return a + 0.5 * torch.randn(a.shape, generator=g, dtype=a.dtype)
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a * 1.3 if bool((a > 0).all()) or a.ndim == 2 else a + 0.5
    if isinstance(a, float) and not isinstance(a, bool):
        return a * 1.3 if a > 0 else a + 0.5
    if torch.is_tensor(a) and a.dtype in (torch.int32, torch.int64) and a.dim() == 1 and len(a.unique()) > 1:
        return a.roll(1)  # class labels (chapter 15): the same labels, given to other rows
    return None


def _ignored(task: Task, fn: Callable, args: tuple, out: list) -> str | None:
    g = torch.Generator().manual_seed(1234)
    ref = to_arrays(task.reference(*fresh(args)))
    for i, a in enumerate(args):
        p = _perturb(a, g)
        if p is None:
            continue
        moved = args[:i] + (p,) + args[i + 1:]
        try:
            ref_p = to_arrays(task.reference(*fresh(moved)))
            if matches(ref_p, ref, 1e-9, 1e-12):
                continue
            out_p = to_arrays(call(task, fn, moved))
        except CheckFailed:
            continue
        except Exception:  # noqa: BLE001 - a reference that refuses the perturbed input: skip this argument
            continue
        if out_p is not None and matches(out_p, out, 1e-12, 1e-12, equal_nan=True):
            name = task.args[i] if i < len(task.args) else f"argument {i + 1}"
            return (f"your result ignores `{name}`: changing `{name}` leaves your answer exactly as it was, "
                    "but the correct answer depends on it.")
    return None


def _random(task: Task, fn: Callable, args: tuple, out: list) -> str | None:
    again = to_arrays(call(task, fn, args))
    if again is not None and not matches(again, out, 1e-12, 1e-12, equal_nan=True):
        use = ("; use the `eps` you were given, it holds the standard normal draws" if "eps" in task.args
               else "; this task involves no randomness")
        return ("two calls with identical inputs gave different results: you drew your own random numbers "
                f"(torch.randn, torch.randn_like, torch.distributions ... .sample()){use}.")
    return None


def _out_of_bounds(task: Task, i: int, a: np.ndarray, name: str) -> str | None:
    spec = task.bounds[i] if i < len(task.bounds) else None
    if spec is None:
        return None
    lo, hi, what = spec
    a = as64(a).real
    if a.size and (a.min() < lo or a.max() > hi):
        return (f"{name} has values from {a.min():.4g} to {a.max():.4g}, but {what} lies between {lo:g} and "
                f"{hi:g}: a sign, a missing term or a step in the wrong order.")
    return None


def _rearranged(a: np.ndarray, r: np.ndarray) -> str | None:
    if a.size > 1 and close(np.sort(as64(a).ravel()), np.sort(as64(r).ravel()), rtol=1e-9, atol=1e-12):
        return ("your result holds exactly the right numbers, but in the wrong places: a transpose, a permute or "
                "a reshape in the wrong order.")
    return None


def _rounded(task: Task, a: np.ndarray, r: np.ndarray) -> str | None:
    a, r = as64(a).real, as64(r).real
    if not close(a, r, rtol=2e-2, atol=max(task.atol, 1e-3)):
        return None
    for k in range(7):
        if close(a, np.round(r, k), rtol=0.0, atol=1e-9):
            want = "three" if task.kind == "value" and k < 3 else "all the"
            return (f"close, but rounded to {k} decimal{'s' if k != 1 else ''}: give {want} decimals "
                    "(do not round the result).")
    if not close(a, r, rtol=1e-3, atol=task.atol):
        return None
    worst = float(np.max(np.abs(a - r) / np.maximum(np.abs(r), 1e-12)))
    return (f"close, but not within the tolerance (largest relative difference {worst:.2g}): look for a "
            "rounded constant (pi = 3.14) or float16 arithmetic.")


def _wrong_order(task: Task, out_arrays: list, ref_arrays: list) -> str | None:
    n = len(task.returns)
    if n < 2:
        return None
    for perm in itertools.permutations(range(n)):
        if perm != tuple(range(n)) and all(
                matches([oa[p] for p in perm], ra, task.rtol, task.atol) for oa, ra in zip(out_arrays, ref_arrays)):
            names = task.outputs or tuple(f"element {i + 1}" for i in range(n))
            got = ", ".join(names[perm.index(i)] for i in range(n))
            return (f"the right values in the wrong order: your tuple is ({got}); return "
                    f"({', '.join(names)}).")
    return None


# --------------------------------------------------------------------------------------- explain

def explain(task: Task, fn: Any, cases: list, outs: list, out_arrays: list, ref_arrays: list) -> CheckFailed:
    """The failure message for an answer that matches neither the reference nor a catalogued mistake."""
    swapped = _wrong_order(task, out_arrays, ref_arrays)
    if swapped:
        return fail(task, swapped)
    for o, oa, ra in zip(outs, out_arrays, ref_arrays):
        if len(oa) != len(ra):
            return fail(task, f"expected {task.expect}, got {describe(o)}")
        for a, r in zip(oa, ra):
            if a.shape != r.shape:
                why = _wrong_reduction(task, cases, out_arrays, ref_arrays) or ""
                return fail(task, f"wrong shape: expected {task.expect}, got {describe(o)}. {why}".rstrip())
            if np.iscomplexobj(a) and not np.iscomplexobj(r):
                return fail(task, "the result is complex; the answer is a real number (take the real part)")
            if not np.all(np.isfinite(a)):
                return fail(task, "the result contains NaN or inf; look for a log of a non-positive "
                                  "number, a division by zero or an overflowing exp")
    if task.kind == "function":
        msg = _random(task, fn, cases[0], out_arrays[0]) or _wrong_reduction(task, cases, out_arrays, ref_arrays)
        if msg:
            return fail(task, msg)
    for (args, oa, ra) in zip(cases, out_arrays, ref_arrays):
        for i, (a, r) in enumerate(zip(oa, ra)):
            if matches([a], [r], task.rtol, task.atol):
                continue
            where = (f"`{task.outputs[i]}` (the {_ordinal(i)} element of the tuple): " if len(oa) > 1
                     and i < len(task.outputs) else "")
            name = "it" if where else "your result"
            msg = _constant(task, args, a, r)
            if msg is None and task.kind == "function":  # before "rearranged": ignored labels also move values
                msg = _ignored(task, fn, args, oa)
            msg = msg or _rearranged(a, r) or _out_of_bounds(task, i, a, name)
            msg = msg or _rounded(task, a, r)
            if msg:
                return fail(task, where + msg)
            break
    worst = max(float(np.max(np.abs(as64(a) - as64(r)))) for oa, ra in zip(out_arrays, ref_arrays)
                for a, r in zip(oa, ra))
    return fail(task, f"the values do not match the reference (largest absolute difference {worst:.3g}) and do "
                      f"not match any mistake in the catalogue. {task.reread}")
