"""Exercise checkers: one ``check_<task>`` per exercise task (the Exercises appendix).

Each checker calls the student's function (or takes the student's value) on fixed, seeded inputs and
compares the result with a reference taken from the package (``kl``, ``losses``, ``em``, ``fid`` where
they exist). A wrong answer is compared with a **catalogue of wrong variants** (the KL's sign flipped,
log sigma^2 read as log sigma, a missing 1/2, a mean where a sum belongs, ...) and, failing that,
diagnosed without one (:mod:`.diagnose`). Where the output is meant to be differentiated, a right answer
must also pass a gradient check (:mod:`.gradcheck`).

Layout: :mod:`.core` (tasks, calling, comparing, reporting), :mod:`.diagnose`, :mod:`.gradcheck`,
:mod:`.common` (seeded inputs, shared mistake wording), and one module per chapter's exercise set,
``ch01_autoencoders`` ... ``ch16_vq_vae``, whose tasks sit next to each other. Units follow the
book: nats per image, summed over pixels and latent dimensions, mean over images, unless a task says
otherwise.
"""
from __future__ import annotations

from typing import Any, Callable

from . import (ch01_autoencoders, ch02_em, ch03_elbo, ch04_reparameterization, ch05_vae_mnist,  # noqa: F401
               ch06_priors_kl, ch07_choices, ch09_reconstruction_losses, ch10_fid, ch11_likelihood,
               ch12_posterior_collapse, ch13_importance_weighting, ch14_hierarchical_vae, ch15_conditional_vae,
               ch16_vq_vae)
from .core import TASKS, CheckFailed, Mistake, Task, run_check

__all__ = ["CheckFailed", "Mistake", "Task", "TASKS", "run_check", "catalogue"]


def _make_checker(task: Task) -> Callable[[Any], None]:
    def checker(answer: Any) -> None:
        run_check(task, answer)

    checker.__name__ = checker.__qualname__ = f"check_{task.name}"
    what = "your function" if task.kind == "function" else "your value"
    grads = (" Then back-propagates through it and checks the gradients with respect to "
             + ", ".join(task.grad) + "." if task.grad else "")
    checker.__doc__ = (f"Chapter {task.chapter} exercise: check {what} for ``{task.name}``; expects "
                       f"{task.expect}.{grads}\n\nPrints a pass line, or raises CheckFailed (an AssertionError) "
                       f"naming the mistake. Recognises: " + "; ".join(mk.name for mk in task.mistakes) + ".")
    return checker


for _name, _t in TASKS.items():
    globals()[f"check_{_name}"] = _make_checker(_t)
    __all__.append(f"check_{_name}")


def catalogue() -> list[tuple[str, str]]:
    """(task, mistake) pairs: every wrong answer the checkers recognise by name."""
    return [(t.name, mk.name) for t in TASKS.values() for mk in t.mistakes]
