"""The shared machinery of the exercise checkers: tasks, calling the student's code, comparing, reporting.

Contract of every checker (``check_<task>``, built from a :class:`Task` by ``run_check``):

* pass: displays one line ``✓ <task>: ...`` (green in Jupyter, plain text elsewhere; ``[ok]`` where the
  output encoding cannot show ``✓``). Returns ``None``.
* fail: raises :class:`CheckFailed` (an ``AssertionError``), so the notebook stops at the task that needs
  work. The message names a catalogued mistake when the answer equals one, else the diagnosis of
  :mod:`.diagnose` (an ignored argument, own random noise, a constant factor or offset, the wrong
  dimension reduced, a rounded value, ...), or says plainly what is wrong: not a function, the wrong type,
  the wrong shape, NaN/inf, an input edited in place, a broken autograd graph (:mod:`.gradcheck`).
* ``NotImplementedError`` from an unfinished stub propagates unchanged, so an exercise notebook run as is
  stops at its first stub.
"""
from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .compare import describe, matches, to_arrays

__all__ = ["CheckFailed", "Mistake", "Task", "TASKS", "register", "run_check", "TIME_LIMIT"]


class CheckFailed(AssertionError):
    """Raised by a checker when the answer is wrong; the message says why."""


@dataclass(frozen=True)
class Mistake:
    """A catalogued wrong answer: ``fn`` computes it (same signature as the reference)."""

    name: str
    hint: str
    fn: Callable[..., Any]


@dataclass
class Task:
    """One exercise task.

    ``kind``: ``"function"`` (the student passes a function, called on each case of ``make_cases()``)
    or ``"value"`` (the student passes a number; ``reference`` takes no arguments). ``expect`` describes
    the expected output for the messages.

    The spec the generic diagnoses read: ``args`` names the arguments; ``returns`` gives the type of
    each output (``"tensor"``, ``"ndarray"``, ``"float"``, ``"int"``; more than one means a tuple, whose
    elements ``outputs`` names); ``grad`` lists the arguments the output must be differentiable with
    respect to (checked by back-propagation); ``terms`` computes the quantity *before* the task's
    reduction ``reduce`` (``{negative dim: "sum" | "mean"}``), whose dimensions ``dims`` labels
    (right-aligned); ``bounds`` gives, per output, ``(low, high, what it is)`` for the values that are
    possible at all; ``reread`` ends a failure message that no diagnosis explains; ``grad_hint`` ends a
    gradient-check failure (where the gradient should go, e.g. through a straight-through estimator).
    """

    name: str
    chapter: int
    kind: str
    reference: Callable[..., Any]
    expect: str
    mistakes: list[Mistake] = field(default_factory=list)
    make_cases: Callable[[], list[tuple]] = lambda: [()]
    rtol: float = 1e-5
    atol: float = 1e-6
    args: tuple[str, ...] = ()
    returns: tuple[str, ...] = ("tensor",)
    outputs: tuple[str, ...] = ()
    grad: tuple[str, ...] = ()
    terms: Callable[..., torch.Tensor] | None = None
    reduce: dict[int, str] = field(default_factory=dict)
    dims: tuple[str, ...] = ()
    bounds: tuple[tuple[float, float, str] | None, ...] = ()
    reread: str = "Re-read the task's formula and its shapes."
    grad_hint: str = ""  # appended to a gradient failure: what the gradient must do in this task


TASKS: dict[str, Task] = {}


def register(t: Task) -> Task:
    """Add a task to ``TASKS`` (in chapter order: the chapter modules are imported in order)."""
    TASKS[t.name] = t
    return t


# ----------------------------------------------------------------------------------- reporting

def _tick() -> str:
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓".encode(enc)
        return "✓"
    except (UnicodeEncodeError, LookupError):
        return "[ok]"


class _Pass:
    """A pass message: green HTML in Jupyter, plain text everywhere else (both deterministic)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html
        return f'<span style="color:#1a7f37;font-weight:bold">{html.escape(self.text)}</span>'


def _report_pass(text: str) -> None:
    try:
        from IPython import get_ipython
        if get_ipython() is not None:
            from IPython.display import display
            display(_Pass(text))
            return
    except ImportError:  # pragma: no cover - IPython is installed with the book
        pass
    print(text)


def fail(task: Task, message: str) -> CheckFailed:
    return CheckFailed(f"{task.name}: {message}")


# ----------------------------------------------------------------------- calling the student's code

TIME_LIMIT = 10.0  # seconds for one call of the student's function: every task's cases take milliseconds


class _TimeLimit(Exception):
    pass


def _with_time_limit(fn: Callable, args: tuple, seconds: float) -> Any:
    """``fn(*args)``, stopped after ``seconds``. In a notebook (the main thread, on Linux / macOS / Colab)
    a timer signal interrupts the student's code itself; elsewhere (Windows, other threads) the call
    runs in a daemon thread that is abandoned after the limit."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise _TimeLimit()

        previous = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict = {}

    def target():
        try:
            box["out"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed back to the caller below
            box["err"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _TimeLimit()
    if "err" in box:
        raise box["err"]
    return box["out"]


def fresh(args: tuple) -> tuple:
    """Copies of the inputs, so a function that edits its inputs in place cannot poison the check."""
    return tuple(a.detach().clone() if torch.is_tensor(a) else (a.copy() if isinstance(a, np.ndarray) else a)
                 for a in args)


def _same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a):
        return a.shape == b.shape and bool(torch.equal(a.detach(), b) or torch.allclose(
            a.detach(), b, rtol=0.0, atol=0.0, equal_nan=True))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return True


def call(task: Task, fn: Callable, args: tuple) -> Any:
    """Call the student's ``fn`` on copies of ``args``; refuse an answer that edits an input in place."""
    given = fresh(args)
    kept = fresh(given)
    versions = [a._version if torch.is_tensor(a) else None for a in given]  # bumped by every in-place op
    try:
        out = _with_time_limit(fn, given, TIME_LIMIT)
    except _TimeLimit:
        raise fail(task, f"your function did not return within {TIME_LIMIT:g} s on a small test case (the "
                         "reference takes milliseconds): look for a loop that never ends, e.g. a `while` whose "
                         "condition never changes, or a loop over a huge range.") from None
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - report whatever the student's code raised
        raise fail(task, f"your function raised {type(e).__name__}: {e}. "
                         f"Expected it to return {task.expect}.") from e
    for i, (a, b, v) in enumerate(zip(given, kept, versions)):
        if not _same(a, b) or (v is not None and a._version != v):
            name = task.args[i] if i < len(task.args) else f"argument {i + 1}"
            raise fail(task, f"your function changed its input `{name}` in place (an in-place operation such "
                             f"as `{name}.add_(...)`, `{name} += ...`, `{name}[...] = ...` or `out=`). The "
                             "caller's tensors must stay as they were: compute a new tensor instead "
                             f"(`{name} + ...`, or work on `{name}.clone()`).")
    return out


# ------------------------------------------------------------------------------------ the check

def run_check(task: Task, answer: Any) -> None:
    """Check ``answer`` (a function or a value, per ``task.kind``); pass quietly or raise CheckFailed.

    Runs with one intra-op thread (restored afterwards): the test inputs are tiny, and on a busy machine
    waking a thread pool costs milliseconds per operation, more than the work itself."""
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        _run_check(task, answer)
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def _run_check(task: Task, answer: Any) -> None:
    from . import diagnose, gradcheck, typecheck

    if task.kind == "function":
        if not callable(answer):
            raise fail(task, f"expected a function (pass the function itself, without calling it), "
                             f"got {describe(answer)}")
        cases = task.make_cases()
        outs = [call(task, answer, args) for args in cases]
        refs = [task.reference(*fresh(args)) for args in cases]
    else:
        if callable(answer):
            raise fail(task, f"expected a number ({task.expect}), got a function: call it or "
                             "assign its result")
        cases, outs, refs = [()], [answer], [task.reference()]

    for out in outs:
        typecheck.check_type(task, out)
    out_arrays = [to_arrays(o) for o in outs]
    if any(a is None for a in out_arrays):
        bad = next(o for o, a in zip(outs, out_arrays) if a is None)
        raise fail(task, f"expected {task.expect}, got {describe(bad)}")
    ref_arrays = [to_arrays(r) for r in refs]

    if all(matches(o, r, task.rtol, task.atol) for o, r in zip(out_arrays, ref_arrays)):
        if task.grad:
            gradcheck.check_gradients(task, answer, cases)
        n = len(cases)
        where = f"on {n} fixed test input{'s' if n > 1 else ''}" if task.kind == "function" else ""
        grads = " (values and gradients)" if task.grad else ""
        _report_pass(f"{_tick()} {task.name}: correct{grads}{(' ' + where) if where else ''}.")
        return

    for m in task.mistakes:
        wrong = [m.fn(*fresh(args)) for args in cases]
        if all(matches(o, to_arrays(w), task.rtol, task.atol) for o, w in zip(out_arrays, wrong)):
            raise fail(task, f"not yet right. Recognised mistake: {m.name}. {m.hint}")

    raise diagnose.explain(task, answer, cases, outs, out_arrays, ref_arrays)
