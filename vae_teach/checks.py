"""Exercise checkers: one ``check_<task>`` per exercise task (the Exercises appendix).

Each checker calls the student's function (or takes the student's value) on fixed, seeded
inputs and compares the result with a reference implementation taken from the package
(``kl``, ``losses``, ``models.reparameterize``, ``evaluate``, ``em``, ``fid`` where they exist).
If the result does not match, the checker compares it with a **catalogue of wrong variants**
(the sign of the KL flipped, log sigma^2 read as log sigma, a missing 1/2, a mean where a sum
belongs, ...) and names the mistake it recognises.

Contract:

* pass: prints/displays one line ``✓ <task>: ...`` (green in Jupyter, plain text elsewhere;
  ``[ok]`` instead of ``✓`` where the output encoding cannot show it). Returns ``None``.
* fail: raises :class:`CheckFailed` (a subclass of ``AssertionError``), so the notebook stops at
  the task that needs work. Its message names the recognised mistake and hints at the fix, or
  says plainly what is wrong: not a function, wrong type, wrong shape, NaN/inf, or the error the
  student's function raised.
* ``NotImplementedError`` from an unfinished stub is *not* caught: it propagates unchanged, so an
  exercise notebook run as is stops at its first stub.

Units follow the book: nats per image, summed over pixels and latent dimensions, mean over
images, unless a task says otherwise. All test inputs are float64 tensors (or numpy arrays for
the FID tasks) built from fixed seeds, so results are deterministic.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


import numpy as np
import torch
import torch.nn.functional as F

from . import kl as _kl
from . import losses as _losses
from .models import reparameterize as _reparameterize

__all__ = ["CheckFailed", "Mistake", "Task", "TASKS", "run_check"]


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

    ``kind``: ``"function"`` (the student passes a function, called on each case of
    ``make_cases()``) or ``"value"`` (the student passes a number; ``reference`` takes no
    arguments). ``expect`` describes the expected output for the error messages.
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


# ----------------------------------------------------------------------------------- comparing

def _to_arrays(out: Any) -> list[np.ndarray] | None:
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


def _matches(out: list[np.ndarray], target: list[np.ndarray], rtol: float, atol: float) -> bool:
    if len(out) != len(target):
        return False
    for a, b in zip(out, target):
        if a.shape != b.shape or np.iscomplexobj(a) != np.iscomplexobj(b):
            return False
        a64 = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
        b64 = b.astype(np.complex128 if np.iscomplexobj(b) else np.float64)
        if not np.allclose(a64, b64, rtol=rtol, atol=atol, equal_nan=False):
            return False
    return True


def _describe(out: Any) -> str:
    if isinstance(out, tuple):
        return "a tuple of " + ", ".join(_describe(o) for o in out)
    if torch.is_tensor(out):
        return f"a tensor of shape {list(out.shape)} (dtype {str(out.dtype).replace('torch.', '')})"
    if isinstance(out, np.ndarray):
        return f"an array of shape {list(out.shape)} (dtype {out.dtype})"
    return f"{type(out).__name__} {out!r}" if isinstance(out, (int, float, complex)) else type(out).__name__


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


def _fail(task: Task, message: str) -> CheckFailed:
    return CheckFailed(f"{task.name}: {message}")


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


def _call(task: Task, fn: Callable, args: tuple) -> Any:
    try:
        return _with_time_limit(fn, _fresh(args), TIME_LIMIT)
    except _TimeLimit:
        raise _fail(task, f"your function did not return within {TIME_LIMIT:g} s on a small test case (the "
                          "reference takes milliseconds): look for a loop that never ends, e.g. a `while` whose "
                          "condition never changes, or a loop over a huge range.") from None
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - report whatever the student's code raised
        raise _fail(task, f"your function raised {type(e).__name__}: {e}. "
                          f"Expected it to return {task.expect}.") from e


def _fresh(args: tuple) -> tuple:
    """Copies of the inputs, so a function that edits its inputs in place cannot poison the check."""
    return tuple(a.clone() if torch.is_tensor(a) else (a.copy() if isinstance(a, np.ndarray) else a)
                 for a in args)


def run_check(task: Task, answer: Any) -> None:
    """Check ``answer`` (a function or a value, per ``task.kind``); pass quietly or raise CheckFailed."""
    if task.kind == "function":
        if not callable(answer):
            raise _fail(task, f"expected a function (pass the function itself, without calling it), "
                              f"got {_describe(answer)}")
        cases = task.make_cases()
        outs = [_call(task, answer, args) for args in cases]
        refs = [task.reference(*_fresh(args)) for args in cases]
        wrongs = {m.name: [m.fn(*_fresh(args)) for args in cases] for m in task.mistakes}
    else:
        if callable(answer):
            raise _fail(task, f"expected a number ({task.expect}), got a function: call it or "
                              "assign its result")
        cases = [()]
        outs = [answer]
        refs = [task.reference()]
        wrongs = {m.name: [m.fn()] for m in task.mistakes}

    out_arrays = [_to_arrays(o) for o in outs]
    if any(a is None for a in out_arrays):
        bad = next(o for o, a in zip(outs, out_arrays) if a is None)
        raise _fail(task, f"expected {task.expect}, got {_describe(bad)}")
    ref_arrays = [_to_arrays(r) for r in refs]

    if all(_matches(o, r, task.rtol, task.atol) for o, r in zip(out_arrays, ref_arrays)):
        n = len(cases)
        where = f"on {n} fixed test input{'s' if n > 1 else ''}" if task.kind == "function" else ""
        _report_pass(f"{_tick()} {task.name}: correct{(' ' + where) if where else ''}.")
        return

    for m in task.mistakes:
        if all(_matches(o, _to_arrays(w), task.rtol, task.atol) for o, w in zip(out_arrays, wrongs[m.name])):
            raise _fail(task, f"not yet right. Recognised mistake: {m.name}. {m.hint}")

    # Plain descriptions: structure, shape, NaN, then "wrong values".
    for o, oa, ra in zip(outs, out_arrays, ref_arrays):
        if len(oa) != len(ra):
            raise _fail(task, f"expected {task.expect}, got {_describe(o)}")
        for a, r in zip(oa, ra):
            if a.shape != r.shape:
                raise _fail(task, f"wrong shape: expected {task.expect}, got {_describe(o)}")
            if np.iscomplexobj(a) and not np.iscomplexobj(r):
                raise _fail(task, "the result is complex; the answer is a real number (take the real part)")
            if not np.all(np.isfinite(a)):
                raise _fail(task, "the result contains NaN or inf; look for a log of a non-positive "
                                  "number, a division by zero or an overflowing exp")
    worst = max(float(np.max(np.abs(a.astype(np.complex128) - r.astype(np.complex128))))
                for oa, ra in zip(out_arrays, ref_arrays) for a, r in zip(oa, ra))
    raise _fail(task, f"the values do not match the reference (largest absolute difference "
                      f"{worst:.3g}) and do not match any mistake in the catalogue. Re-read the "
                      "task: units, which dimensions to sum, signs.")


# -------------------------------------------------------------------------------- test inputs

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _rand(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=g, dtype=torch.float64)


LOG2PI = math.log(2 * math.pi)


def _log_normal(z, mu, logvar):
    return -0.5 * (LOG2PI + logvar + (z - mu) ** 2 / logvar.exp())


# =========================================================== chapter 1: autoencoders

def _cases_images() -> list[tuple]:
    g = _gen(1)
    return [(_rand(g, 5, 1, 28, 28),), (_rand(g, 3, 1, 28, 28),)]


def _cases_ae_forward() -> list[tuple]:
    g = _gen(2)
    x = _rand(g, 6, 784)
    return [(x, _randn(g, 3, 784) * 0.05, _randn(g, 3), _randn(g, 784, 3) * 0.5, _randn(g, 784))]


def _ae_forward(x, W_enc, b_enc, W_dec, b_dec):
    z = x @ W_enc.T + b_enc
    return z, torch.sigmoid(z @ W_dec.T + b_dec)


def _cases_recon_pairs() -> list[tuple]:
    g = _gen(3)
    return [(_rand(g, 4, 1, 28, 28), _rand(g, 4, 1, 28, 28))]


# =========================================================== chapter 2: EM for a 1-D GMM

def _cases_gmm() -> list[tuple]:
    g = _gen(4)
    x = torch.cat([_randn(g, 30) * 0.5 - 2.0, _randn(g, 20) * 1.5 + 3.0])
    return [(x, torch.tensor([0.3, 0.7], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64),
             torch.tensor([0.5, 3.0], dtype=torch.float64))]


def _gmm_log_joint(x, weights, means, variances, var_as_std=False, half=True):
    var = variances ** 2 if var_as_std else variances
    c = 0.5 if half else 1.0
    return weights.log() - c * torch.log(2 * math.pi * var) - 0.5 * (x[:, None] - means) ** 2 / var


def _e_step(x, weights, means, variances):
    return torch.softmax(_gmm_log_joint(x, weights, means, variances), dim=1)


def _cases_m_step() -> list[tuple]:
    g = _gen(5)
    x = torch.cat([_randn(g, 25) - 2.0, _randn(g, 15) * 2.0 + 3.0])
    return [(x, torch.softmax(_randn(g, 40, 3) * 2.0, dim=1))]


def _m_step(x, resp):
    nk = resp.sum(0)
    means = (resp * x[:, None]).sum(0) / nk
    variances = (resp * (x[:, None] - means) ** 2).sum(0) / nk
    return nk / x.shape[0], means, variances


def _gmm_ll_local(x, weights, means, variances):
    return float(torch.logsumexp(_gmm_log_joint(x, weights, means, variances), dim=1).mean())


def _em_params(weights, means, variances):
    from .em import GMMParams
    return GMMParams(weights.numpy(), means.numpy()[:, None], variances.numpy()[:, None], "diag")


def _e_step_reference(x, weights, means, variances):
    """The package's ``em.e_step`` (chapter 2) on 1-D data, as a float64 tensor [N, K]."""
    try:
        from . import em
    except ImportError:  # pragma: no cover - em.py is part of the package
        return _e_step(x, weights, means, variances)
    return torch.from_numpy(em.e_step(x.numpy(), _em_params(weights, means, variances))[0])


def _m_step_reference(x, resp):
    """The package's ``em.m_step`` (diagonal, no regularisation) on 1-D data."""
    try:
        from . import em
    except ImportError:  # pragma: no cover
        return _m_step(x, resp)
    p = em.m_step(x.numpy(), resp.numpy(), covariance_type="diag", reg_covar=0.0)
    return (torch.from_numpy(p.weights), torch.from_numpy(p.means[:, 0]), torch.from_numpy(p.covariances[:, 0]))


def _gmm_ll(x, weights, means, variances):
    """The package's ``em.log_likelihood`` averaged over the data points (nats per point)."""
    try:
        from . import em
    except ImportError:  # pragma: no cover
        return _gmm_ll_local(x, weights, means, variances)
    return float(em.log_likelihood(x.numpy(), _em_params(weights, means, variances)).mean())


# =========================================================== chapter 3: the ELBO

def _cases_latent() -> list[tuple]:
    g = _gen(6)
    return [(_randn(g, 5, 4), _randn(g, 5, 4), _randn(g, 5, 4) * 0.7)]


def _cases_logits() -> list[tuple]:
    g = _gen(7)
    return [(_randn(g, 4, 1, 28, 28) * 2.0, (_rand(g, 4, 1, 28, 28) > 0.6).double())]


def _bern_ll(logits, x):
    return -_losses.bce(logits, x, reduction="none")


def _cases_elbo_terms() -> list[tuple]:
    g = _gen(8)
    return [(_randn(g, 7, 5) - 90.0, _randn(g, 7, 5) - 3.0, _randn(g, 7, 5) * 0.5 - 1.0)]


# =========================================================== chapter 4: reparameterization

def _cases_logvar() -> list[tuple]:
    g = _gen(9)
    return [(_randn(g, 6, 3) * 1.5,)]


def _cases_reparam() -> list[tuple]:
    g = _gen(10)
    return [(_randn(g, 5, 3), _randn(g, 5, 3) * 1.2, _randn(g, 5, 3))]


def _cases_reparam_grad() -> list[tuple]:
    g = _gen(11)
    return [(_randn(g, 4, 3), _randn(g, 4, 3) * 0.8, _randn(g, 10, 4, 3))]


def _objective(z: torch.Tensor) -> torch.Tensor:
    """f(z) used by the gradient task: sum over latent dims of (z - 1)^2 (per sample, per image)."""
    return ((z - 1.0) ** 2).sum(-1)


def _reparam_grad(mu, logvar, eps, std_of=lambda lv: (0.5 * lv).exp(), reduce="sum"):
    mu = mu.clone().requires_grad_(True)
    logvar = logvar.clone().requires_grad_(True)
    z = mu + std_of(logvar) * eps
    per_image = _objective(z).mean(0)
    total = per_image.sum() if reduce == "sum" else per_image.mean()
    gm, gl = torch.autograd.grad(total, (mu, logvar))
    return gm, gl


# =========================================================== chapters 5 and 6: KL

def _cases_prior() -> list[tuple]:
    g = _gen(12)
    return [(_randn(g, 5, 4), _randn(g, 5, 4) * 0.8, 1.0, 4.0)]


def _kl_prior(mu, logvar, prior_mu, prior_var):
    return _kl.kl_diag_gaussians(mu, logvar, prior_mu, math.log(prior_var))


def _cases_kl_mc() -> list[tuple]:
    g = _gen(13)
    return [(_randn(g, 3, 2), _randn(g, 3, 2) * 0.5, 1.0, 4.0, _randn(g, 50, 3, 2))]


def _kl_mc(mu, logvar, prior_mu, prior_var, eps, std_of=lambda lv: (0.5 * lv).exp(), sign=1.0,
           reduce=torch.sum):
    z = mu + std_of(logvar) * eps
    pm = torch.full_like(mu, prior_mu)
    pl = torch.full_like(mu, math.log(prior_var))
    diff = sign * (_log_normal(z, mu, logvar) - _log_normal(z, pm, pl))
    return reduce(diff, dim=-1).mean(0)


def _cases_vae_loss() -> list[tuple]:
    g = _gen(14)
    return [(_randn(g, 4, 1, 28, 28) * 2.0, _rand(g, 4, 1, 28, 28), _randn(g, 4, 3), _randn(g, 4, 3) * 0.6)]


def _vae_loss(logits, x, mu, logvar, rec_reduce="sum", kl_fn=None, batch_reduce="mean"):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    rec = rec.sum(1) if rec_reduce == "sum" else rec.mean(1)
    kl = (kl_fn or _kl.kl_diag_gaussians)(mu, logvar)
    red = torch.mean if batch_reduce == "mean" else torch.sum
    return red(rec + kl), red(rec), red(kl)


def _kl_std_variants(mu, logvar, *, sign=1.0, half=0.5, logvar_as_log_sigma=False, reduce="sum"):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    per_dim = sign * half * (lv.exp() + mu ** 2 - 1.0 - lv)
    return per_dim.sum(1) if reduce == "sum" else per_dim.mean(1)


def _kl_prior_variant(mu, logvar, prior_mu, prior_var, *, sign=1.0, half=0.5, var_is_std=False,
                      logvar_as_log_sigma=False, reduce="sum", divide_mean=True, log_s2=True):
    s2 = prior_var ** 2 if var_is_std else prior_var
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    sq = (mu - prior_mu) ** 2 / (s2 if divide_mean else 1.0)
    per_dim = sign * half * ((math.log(s2) if log_s2 else 0.0) - lv + lv.exp() / s2 + sq - 1.0)
    return per_dim.sum(1) if reduce == "sum" else per_dim.mean(1)


def _kl_1d(m_q, v_q, m_p, v_p):
    return 0.5 * (math.log(v_p / v_q) + (v_q + (m_q - m_p) ** 2) / v_p - 1.0)


# =========================================================== chapter 7: Gaussian decoder, active units

def _cases_gauss_dec() -> list[tuple]:
    g = _gen(15)
    return [(_rand(g, 3, 1, 28, 28), _rand(g, 3, 1, 28, 28), _randn(g, 3, 1, 28, 28) * 0.5 - 2.0)]


def _gauss_nll_variant(x, mean, logvar, *, half=0.5, log2pi=True, logvar_as_log_sigma=False, reduce="sum"):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    per = half * ((LOG2PI if log2pi else 0.0) + lv + (x - mean) ** 2 / lv.exp())
    per = per.flatten(1)
    return per.sum(1) if reduce == "sum" else per.mean(1)


def _cases_active() -> list[tuple]:
    g = _gen(16)
    scales = torch.tensor([1.0, 0.5, 0.2, 0.05, 0.02, 0.005, 0.001, 0.0, 0.0, 0.0], dtype=torch.float64)
    return [(_randn(g, 200, 10) * scales + torch.linspace(-1, 1, 10, dtype=torch.float64), 0.01)]


def _active(mu, threshold):
    return int((mu.var(dim=0) > threshold).sum())


# =========================================================== chapter 9: reconstruction losses

def _cases_bce() -> list[tuple]:
    g = _gen(17)
    return [(_randn(g, 4, 1, 28, 28) * 2.0, _rand(g, 4, 1, 28, 28))]


def _make_features():
    g = _gen(18)
    A = _randn(g, 784, 32) / 28.0
    B = _randn(g, 32, 16) / 5.0

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        """A fixed random 'feature extractor' with two ReLU layers: [N,1,28,28] -> [[N,32], [N,16]]."""
        h1 = torch.relu(x.flatten(1) @ A)
        h2 = torch.relu(h1 @ B)
        return [h1, h2]

    return features


_FEATURES = _make_features()


def _cases_perceptual() -> list[tuple]:
    g = _gen(19)
    return [(_FEATURES, _rand(g, 5, 1, 28, 28), _rand(g, 5, 1, 28, 28))]


class _FeatureNet:
    """Adapter so ``losses.perceptual`` can use any ``features`` function as its classifier."""

    def __init__(self, features):
        self.perceptual_features = features


def _perceptual_reference(features, x_hat, x):
    """The package's ``losses.perceptual`` (chapter 9) with the task's feature extractor."""
    if hasattr(_losses, "perceptual"):
        return _losses.perceptual(x_hat, x, classifier=_FeatureNet(features), reduction="none")
    return _perceptual(features, x_hat, x)  # pragma: no cover


def _perceptual(features, x_hat, x, *, layers=None, reduce="sum", power=2):
    fa, fb = features(x_hat), features(x)
    idx = range(len(fa)) if layers is None else layers
    total = 0.0
    for i in idx:
        d = (fa[i] - fb[i]).abs() ** power
        d = d.flatten(1)
        total = total + (d.sum(1) if reduce == "sum" else d.mean(1))
    return total


# =========================================================== chapter 10: FID

def _cases_stats() -> list[tuple]:
    rng = np.random.default_rng(20)
    return [(rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5),)]


def _stats(features, ddof=1):
    mu = features.mean(axis=0)
    return mu, np.cov(features, rowvar=False, ddof=ddof)


def _stats_reference(features):
    """The package's ``fid.feature_statistics`` (chapter 10)."""
    try:
        from .fid import feature_statistics
    except ImportError:  # pragma: no cover
        return _stats(features)
    return feature_statistics(features)


def _cases_fid() -> list[tuple]:
    rng = np.random.default_rng(21)
    a = rng.normal(size=(60, 4))
    b = rng.normal(size=(60, 4)) @ np.diag([1.5, 0.7, 1.0, 2.0]) + 0.5
    return [(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))]


def _sqrtm(m: np.ndarray) -> np.ndarray:
    import scipy.linalg
    return scipy.linalg.sqrtm(m)


def _frechet_local(mu1, sigma1, mu2, sigma2, *, trace=True, cross=2.0, sqrt="matrix", squared=True,
                   keep_complex=False):
    diff = mu1 - mu2
    mean_term = float(diff @ diff) if squared else float(np.sqrt(diff @ diff))
    if not trace:
        return mean_term
    if sqrt == "matrix":
        covmean = _sqrtm(sigma1 @ sigma2)
        if keep_complex:
            covmean = covmean.astype(np.complex128)  # what older scipy returned, tiny imaginary part
        else:
            covmean = np.real(covmean)
    else:
        covmean = np.sqrt(np.abs(sigma1 * sigma2))
    value = mean_term + np.trace(sigma1) + np.trace(sigma2) - cross * np.trace(covmean)
    return complex(value) if keep_complex else float(value)


def _frechet_reference(mu1, sigma1, mu2, sigma2) -> float:
    """The package's ``fid.frechet_distance`` when it exists, else the local reference."""
    try:
        from .fid import frechet_distance
    except ImportError:
        return _frechet_local(mu1, sigma1, mu2, sigma2)
    return float(frechet_distance(mu1, sigma1, mu2, sigma2))


# =========================================================== chapter 11: the IWAE bound

def _cases_log_w() -> list[tuple]:
    g = _gen(22)
    k, n, d = 6, 4, 3
    mu, logvar = _randn(g, n, d), _randn(g, n, d) * 0.5
    z = mu + (0.5 * logvar).exp() * _randn(g, k, n, d)
    return [(_randn(g, k, n) - 100.0, z, mu, logvar)]


def _log_w(log_px_z, z, mu, logvar, *, q_sign=-1.0, prior=True, logvar_as_log_sigma=False):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    log_q = _log_normal(z, mu, lv).sum(-1)
    log_p = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1) if prior else 0.0
    return log_px_z + log_p + q_sign * log_q


def _cases_iwae() -> list[tuple]:
    g = _gen(23)
    return [(_randn(g, 8, 5) * 3.0 - 800.0,)]


def _iwae(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


# ================================================================================ the catalogue

KL_SIGN = ("the sign of the KL is flipped", "KL(q || p) >= 0: with the standard prior it is "
           "+1/2 * sum(mu^2 + sigma^2 - 1 - log sigma^2), so check the overall sign.")
HALF = ("a missing 1/2", "Gaussian log-densities and KLs carry a factor 1/2 in front of "
        "(log 2 pi sigma^2 + (x - mu)^2 / sigma^2); put it back.")
LOG_SIGMA = ("log sigma^2 used as log sigma", "logvar is log sigma^2, so sigma^2 = exp(logvar) and "
             "sigma = exp(logvar / 2); you treated it as log sigma.")
MEAN_LATENT = ("mean instead of sum over the latent dimensions", "the KL (or log-density) of a "
               "diagonal Gaussian is a SUM over the D latent dimensions: use .sum(dim=-1), not .mean.")
MEAN_PIXELS = ("mean instead of sum over the pixels", "a likelihood term is summed over the 784 "
               "pixels of each image (nats per image); .mean over pixels divides it by 784.")
VAR_AS_STD = ("the variance used as the standard deviation", "z = mu + sigma * eps with "
              "sigma = exp(0.5 * logvar); exp(logvar) is the variance sigma^2.")


def _m(pair: tuple[str, str], fn: Callable) -> Mistake:
    return Mistake(pair[0], pair[1], fn)


TASKS: dict[str, Task] = {}


def _task(t: Task) -> Task:
    TASKS[t.name] = t
    return t


# ---- chapter 1
_task(Task("flatten_images", 1, "function", lambda x: x.reshape(x.shape[0], -1),
           "a tensor of shape [N, 784]",
           [Mistake("the batch dimension was flattened too", "keep the first (batch) dimension: "
                    "x.reshape(x.shape[0], -1) or x.flatten(1) gives [N, 784].", lambda x: x.reshape(-1)),
            Mistake("pixels and images swapped", "rows are images: the result is [N, 784], not [784, N] "
                    "(no transpose).", lambda x: x.reshape(x.shape[0], -1).T)],
           _cases_images))
_task(Task("ae_forward", 1, "function", _ae_forward,
           "a tuple (z [N, D], x_hat [N, 784]) with x_hat in (0, 1)",
           [Mistake("no sigmoid on the decoder output", "the decoder gives logits; x_hat = "
                    "torch.sigmoid(z @ W_dec.T + b_dec) puts pixel values in (0, 1).",
                    lambda x, We, be, Wd, bd: ((x @ We.T + be), (x @ We.T + be) @ Wd.T + bd)),
            Mistake("a sigmoid on the code z", "the code of this linear encoder is z = x @ W_enc.T + b_enc, "
                    "with no nonlinearity.",
                    lambda x, We, be, Wd, bd: (torch.sigmoid(x @ We.T + be),
                                               torch.sigmoid(torch.sigmoid(x @ We.T + be) @ Wd.T + bd))),
            Mistake("the biases are missing", "add b_enc to the code and b_dec to the decoder's logits.",
                    lambda x, We, be, Wd, bd: ((x @ We.T), torch.sigmoid((x @ We.T) @ Wd.T)))],
           _cases_ae_forward))
_task(Task("ae_loss", 1, "function", lambda x_hat, x: _losses.mse(x_hat, x),
           "a scalar tensor: squared error summed over pixels, mean over images",
           [_m(MEAN_PIXELS, lambda x_hat, x: F.mse_loss(x_hat, x)),
            Mistake("sum over the images too", "the loss is a mean over images (per image, so it does not "
                    "grow with the batch size): sum over pixels, then .mean() over the batch.",
                    lambda x_hat, x: ((x_hat - x) ** 2).sum()),
            Mistake("the error is not squared", "the reconstruction loss here is the SQUARED error "
                    "(x_hat - x) ** 2; a norm (square root) or absolute value is a different loss.",
                    lambda x_hat, x: (x_hat - x).flatten(1).norm(dim=1).mean())],
           _cases_recon_pairs))

# ---- chapter 2
_task(Task("e_step", 2, "function", _e_step_reference,
           "responsibilities, a tensor of shape [N, K] whose rows sum to 1",
           [Mistake("E-step responsibilities not normalised", "divide pi_k N(x_n; m_k, v_k) by its sum "
                    "over k, so each row sums to 1 (or use torch.softmax of the log-joint over dim=1).",
                    lambda x, w, m, v: _gmm_log_joint(x, w, m, v).exp()),
            Mistake("normalised over the wrong axis", "responsibilities r_nk are normalised over the "
                    "components k (dim=1), so each data point's row sums to 1.",
                    lambda x, w, m, v: torch.softmax(_gmm_log_joint(x, w, m, v), dim=0)),
            Mistake("the variance used as the standard deviation", "variances holds sigma_k^2: the "
                    "density is exp(-(x - m)^2 / (2 v)) / sqrt(2 pi v), do not square it again.",
                    lambda x, w, m, v: torch.softmax(_gmm_log_joint(x, w, m, v, var_as_std=True), dim=1)),
            Mistake("the mixing weights are missing", "the posterior of component k is proportional to "
                    "pi_k * N(x; m_k, v_k): multiply by the weights before normalising.",
                    lambda x, w, m, v: torch.softmax(_gmm_log_joint(x, torch.ones_like(w), m, v), dim=1))],
           _cases_gmm))
_task(Task("m_step", 2, "function", _m_step_reference,
           "a tuple (weights [K], means [K], variances [K])",
           [Mistake("variances divided by N instead of N_k", "each component's variance is a weighted "
                    "average: sum_n r_nk (x_n - m_k)^2 / N_k with N_k = sum_n r_nk.",
                    lambda x, r: (_m_step(x, r)[0], _m_step(x, r)[1],
                                  (r * (x[:, None] - _m_step(x, r)[1]) ** 2).sum(0) / x.shape[0])),
            Mistake("weights not divided by N", "the mixing weight is pi_k = N_k / N, so the weights "
                    "sum to 1.", lambda x, r: (r.sum(0), _m_step(x, r)[1], _m_step(x, r)[2])),
            Mistake("standard deviations returned instead of variances", "return the variance "
                    "sum_n r_nk (x_n - m_k)^2 / N_k, without a square root.",
                    lambda x, r: (_m_step(x, r)[0], _m_step(x, r)[1], _m_step(x, r)[2].sqrt())),
            Mistake("the means ignore the responsibilities", "m_k = sum_n r_nk x_n / N_k: weight each "
                    "point by its responsibility.",
                    lambda x, r: (_m_step(x, r)[0], x.mean().expand(r.shape[1]),
                                  (r * (x[:, None] - x.mean()) ** 2).sum(0) / r.sum(0)))],
           _cases_m_step))
_task(Task("gmm_log_likelihood", 2, "function", _gmm_ll,
           "a Python float: the mean log-likelihood per data point, in nats",
           [_m(HALF, lambda x, w, m, v: float(torch.logsumexp(_gmm_log_joint(x, w, m, v, half=False), 1).mean())),
            Mistake("log of the sum replaced by a sum of logs", "log p(x_n) = log sum_k pi_k N(x_n; m_k, v_k): "
                    "the log goes outside the sum over components (torch.logsumexp over k).",
                    lambda x, w, m, v: float(_gmm_log_joint(x, w, m, v).sum(1).mean())),
            Mistake("sum instead of mean over the data points", "report the mean over the N points "
                    "(nats per data point), so the number does not grow with N.",
                    lambda x, w, m, v: float(torch.logsumexp(_gmm_log_joint(x, w, m, v), 1).sum())),
            Mistake("the variance used as the standard deviation", "variances holds sigma_k^2; use it "
                    "as is in log(2 pi v) and (x - m)^2 / v.",
                    lambda x, w, m, v: float(torch.logsumexp(_gmm_log_joint(x, w, m, v, var_as_std=True), 1).mean()))],
           _cases_gmm))

# ---- chapter 3
_task(Task("gaussian_log_density", 3, "function", _kl.gaussian_log_density,
           "a tensor of shape [N]: log N(z; mu, diag(exp(logvar))) in nats, summed over the D dimensions",
           [_m(HALF, lambda z, mu, lv: -(LOG2PI + lv + (z - mu) ** 2 / lv.exp()).sum(-1)),
            _m(LOG_SIGMA, lambda z, mu, lv: _log_normal(z, mu, 2 * lv).sum(-1)),
            _m(MEAN_LATENT, lambda z, mu, lv: _log_normal(z, mu, lv).mean(-1)),
            Mistake("the log 2 pi constant is missing", "the normaliser of a Gaussian contributes "
                    "-1/2 log(2 pi) per dimension; it matters for likelihoods.",
                    lambda z, mu, lv: -0.5 * (lv + (z - mu) ** 2 / lv.exp()).sum(-1)),
            Mistake("the sign is flipped", "a log-density is -1/2 (log 2 pi sigma^2 + (z - mu)^2 / sigma^2); "
                    "you returned the negative log-density.",
                    lambda z, mu, lv: -_log_normal(z, mu, lv).sum(-1))],
           _cases_latent))
_task(Task("bernoulli_log_likelihood", 3, "function", _bern_ll,
           "a tensor of shape [N]: log p(x|z) in nats per image, summed over pixels",
           [Mistake("the sign is flipped (this is the BCE)", "log p(x|z) = -BCE: a log-likelihood of "
                    "784 binary pixels is negative.", lambda lg, x: _losses.bce(lg, x, reduction="none")),
            _m(MEAN_PIXELS, lambda lg, x: -F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).mean(1)),
            Mistake("the (1 - x) log(1 - p) term is missing", "a Bernoulli pixel contributes "
                    "x log p + (1 - x) log(1 - p); both terms count.",
                    lambda lg, x: (x * F.logsigmoid(lg)).flatten(1).sum(1))],
           _cases_logits))
_task(Task("elbo_estimate", 3, "function",
           lambda lpx, lpz, lqz: (lpx + lpz - lqz).mean(0),
           "a tensor of shape [N]: the Monte Carlo ELBO per image in nats (mean over the S samples)",
           [Mistake("the sign of log q(z|x) is flipped (the KL part)", "ELBO = E_q[log p(x|z) + log p(z) "
                    "- log q(z|x)]: log q enters with a minus sign (that makes -KL).",
                    lambda lpx, lpz, lqz: (lpx + lpz + lqz).mean(0)),
            Mistake("sum over the samples instead of the mean", "a Monte Carlo estimate AVERAGES over the "
                    "S samples (dim 0).", lambda lpx, lpz, lqz: (lpx + lpz - lqz).sum(0)),
            Mistake("the negative ELBO", "return the ELBO itself (a lower bound on log p(x), negative here), "
                    "not the loss -ELBO.", lambda lpx, lpz, lqz: -(lpx + lpz - lqz).mean(0)),
            Mistake("averaged over the wrong dimension", "the inputs are [S, N]: average over the samples "
                    "(dim 0) and keep one value per image.",
                    lambda lpx, lpz, lqz: (lpx + lpz - lqz).mean(1))],
           _cases_elbo_terms))

# ---- chapter 4
_task(Task("std_from_logvar", 4, "function", lambda lv: (0.5 * lv).exp(),
           "a tensor shaped like logvar: sigma = exp(logvar / 2)",
           [_m(VAR_AS_STD, lambda lv: lv.exp()),
            Mistake("the exp is missing", "logvar is a logarithm: sigma = exp(logvar / 2).",
                    lambda lv: 0.5 * lv),
            Mistake("the sign of the exponent is flipped", "sigma = exp(+logvar / 2); exp(-logvar / 2) is 1 / sigma.",
                    lambda lv: (-0.5 * lv).exp())],
           _cases_logvar))
_task(Task("reparameterize", 4, "function",
           lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps,
           "a tensor of shape [N, D]: z = mu + sigma * eps",
           [Mistake("reparameterizing with the variance instead of the standard deviation",
                    VAR_AS_STD[1], lambda mu, lv, eps: mu + lv.exp() * eps),
            Mistake("logvar used directly as sigma", "logvar is log sigma^2: take exp(0.5 * logvar) first.",
                    lambda mu, lv, eps: mu + lv * eps),
            Mistake("the noise is missing", "z must be random: z = mu + sigma * eps, not mu.",
                    lambda mu, lv, eps: mu.clone()),
            Mistake("the mean is missing", "shift the scaled noise by the mean: z = mu + sigma * eps.",
                    lambda mu, lv, eps: (0.5 * lv).exp() * eps)],
           _cases_reparam))
_task(Task("reparam_gradient", 4, "function", _reparam_grad,
           "a tuple (grad_mu [N, D], grad_logvar [N, D])",
           [Mistake("reparameterizing with the variance instead of the standard deviation", VAR_AS_STD[1],
                    lambda mu, lv, eps: _reparam_grad(mu, lv, eps, std_of=lambda t: t.exp())),
            Mistake("mean over images instead of sum", "the objective is the SUM over images of the "
                    "per-image Monte Carlo average (mean over samples only), so each image's gradient is its own.",
                    lambda mu, lv, eps: _reparam_grad(mu, lv, eps, reduce="mean")),
            Mistake("z was detached (gradients are zero)", "build z from mu and logvar with requires_grad "
                    "set, and do not call .detach() or wrap it in torch.no_grad().",
                    lambda mu, lv, eps: (torch.zeros_like(mu), torch.zeros_like(lv)))],
           _cases_reparam_grad))

# ---- chapter 5
_task(Task("kl_standard_normal", 5, "function", lambda mu, lv: _kl.kl_diag_gaussians(mu, lv),
           "a tensor of shape [N]: KL(q(z|x) || N(0, I)) in nats, summed over the D latent dimensions",
           [_m(KL_SIGN, lambda mu, lv: _kl_std_variants(mu, lv, sign=-1.0)),
            _m(HALF, lambda mu, lv: _kl_std_variants(mu, lv, half=1.0)),
            _m(MEAN_LATENT, lambda mu, lv: _kl_std_variants(mu, lv, reduce="mean")),
            _m(LOG_SIGMA, lambda mu, lv: _kl_std_variants(mu, lv, logvar_as_log_sigma=True))],
           lambda: [c[1:] for c in _cases_latent()]))
_task(Task("vae_loss", 5, "function", _vae_loss,
           "a tuple (loss, recon, kl) of scalar tensors in nats per image (mean over images)",
           [_m(MEAN_PIXELS, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, rec_reduce="mean")),
            _m(KL_SIGN, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, kl_fn=lambda a, b: _kl_std_variants(a, b, sign=-1.0))),
            _m(MEAN_LATENT, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, kl_fn=lambda a, b: _kl_std_variants(a, b, reduce="mean"))),
            Mistake("sum over the images instead of the mean", "report nats per image: sum over pixels and "
                    "latent dimensions, then .mean() over the batch.",
                    lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, batch_reduce="sum"))],
           _cases_vae_loss))

# ---- chapter 6
_PRIOR_MISTAKES = [
    _m(KL_SIGN, lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, sign=-1.0)),
    _m(HALF, lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, half=1.0)),
    _m(LOG_SIGMA, lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, logvar_as_log_sigma=True)),
    _m(MEAN_LATENT, lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, reduce="mean")),
    Mistake("the prior variance used as a standard deviation", "prior_var is s^2 (for N(1, 2^2) it is 4); "
            "do not square it again.", lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, var_is_std=True)),
    Mistake("(mu - m)^2 not divided by s^2", "the mean term is (mu - m)^2 / s^2, like the variance term "
            "sigma^2 / s^2.", lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, divide_mean=False)),
    Mistake("the log s^2 term is missing", "KL = 1/2 [log s^2 - log sigma^2 + (sigma^2 + (mu - m)^2) / s^2 - 1]; "
            "with s^2 != 1 the log s^2 term does not vanish.",
            lambda mu, lv, m, v: _kl_prior_variant(mu, lv, m, v, log_s2=False)),
]
_task(Task("kl_gaussian_prior", 6, "function", _kl_prior,
           "a tensor of shape [N]: KL(N(mu, sigma^2) || N(m, s^2)) in nats, summed over latent dims",
           _PRIOR_MISTAKES, _cases_prior))
_task(Task("kl_value", 6, "value", lambda: _kl_1d(0.0, 1.0, 1.0, 4.0),
           "a number: KL(N(0, 1) || N(1, 2^2)) in nats",
           [Mistake("N(1, 2^2) read as variance 2", "in this book N(m, s^2) lists the VARIANCE: N(1, 2^2) has "
                    "standard deviation 2 and variance 4.", lambda: _kl_1d(0.0, 1.0, 1.0, 2.0)),
            Mistake("the KL is reversed", "KL(q || p) with q = N(0, 1) first; KL is not symmetric.",
                    lambda: _kl_1d(1.0, 4.0, 0.0, 1.0)),
            Mistake("a missing 1/2", HALF[1], lambda: 2 * _kl_1d(0.0, 1.0, 1.0, 4.0))],
           atol=5e-4, rtol=0.0))
_task(Task("kl_monte_carlo", 6, "function", _kl_mc,
           "a tensor of shape [N]: the Monte Carlo KL in nats (sum over latent dims, mean over samples)",
           [_m(KL_SIGN, lambda mu, lv, m, v, eps: _kl_mc(mu, lv, m, v, eps, sign=-1.0)),
            Mistake("reparameterizing with the variance instead of the standard deviation", VAR_AS_STD[1],
                    lambda mu, lv, m, v, eps: _kl_mc(mu, lv, m, v, eps, std_of=lambda t: t.exp())),
            _m(MEAN_LATENT, lambda mu, lv, m, v, eps: _kl_mc(mu, lv, m, v, eps, reduce=torch.mean))],
           _cases_kl_mc))

# ---- chapter 7
_task(Task("gaussian_decoder_nll", 7, "function",
           lambda x, mean, lv: _losses.gaussian_nll(x, mean, lv, reduction="none"),
           "a tensor of shape [N]: -log N(x; mean, exp(logvar)) in nats per image, summed over pixels",
           [Mistake("plain squared error (the variance is ignored)", "a Gaussian decoder's NLL is "
                    "1/2 sum(log 2 pi sigma^2 + (x - mean)^2 / sigma^2); sum((x - mean)^2) ignores the "
                    "variance the decoder outputs.", lambda x, mean, lv: ((x - mean) ** 2).flatten(1).sum(1)),
            _m(HALF, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, half=1.0)),
            Mistake("the log 2 pi constant is missing", "each pixel adds 1/2 log(2 pi); without it the "
                    "number is not a likelihood in nats.", lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, log2pi=False)),
            _m(LOG_SIGMA, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, logvar_as_log_sigma=True)),
            _m(MEAN_PIXELS, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, reduce="mean"))],
           _cases_gauss_dec))
_task(Task("count_active_units", 7, "function", _active,
           "a Python int: the number of latent units with Var_x(E_q[z_u|x]) > threshold",
           [Mistake("variance over the latent dimensions instead of over the data", "mu is [N, D]; a unit's "
                    "activity is the variance of its column over the N images: mu.var(dim=0).",
                    lambda mu, t: int((mu.var(dim=1) > t).sum())),
            Mistake("standard deviation instead of variance", "compare the VARIANCE of each unit's mean with "
                    "the threshold (mu.var(dim=0)), not its standard deviation.",
                    lambda mu, t: int((mu.std(dim=0) > t).sum())),
            Mistake("counted the inactive units", "count units whose variance is ABOVE the threshold.",
                    lambda mu, t: int((mu.var(dim=0) <= t).sum()))],
           _cases_active))

# ---- chapter 9
_task(Task("bce_per_image", 9, "function", lambda lg, x: _losses.bce(lg, x, reduction="none"),
           "a tensor of shape [N]: BCE in nats per image, summed over pixels",
           [_m(MEAN_PIXELS, lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).mean(1)),
            Mistake("the sigmoid is applied twice", "binary_cross_entropy_with_logits applies the sigmoid "
                    "itself: pass the logits, not torch.sigmoid(logits).",
                    lambda lg, x: F.binary_cross_entropy_with_logits(torch.sigmoid(lg), x, reduction="none").flatten(1).sum(1)),
            Mistake("the sign is flipped", "BCE is the NEGATIVE log-likelihood: positive, in nats.",
                    lambda lg, x: -_losses.bce(lg, x, reduction="none"))],
           _cases_bce))
_task(Task("mae_per_image", 9, "function", lambda x_hat, x: _losses.mae(x_hat, x, reduction="none"),
           "a tensor of shape [N]: the absolute error summed over pixels, per image",
           [_m(MEAN_PIXELS, lambda x_hat, x: (x_hat - x).abs().flatten(1).mean(1)),
            Mistake("squared instead of absolute error (that is the MSE)", "MAE uses |x_hat - x|.",
                    lambda x_hat, x: ((x_hat - x) ** 2).flatten(1).sum(1)),
            Mistake("the absolute value is missing", "without .abs() positive and negative errors cancel.",
                    lambda x_hat, x: (x_hat - x).flatten(1).sum(1))],
           _cases_recon_pairs))
_task(Task("perceptual_loss", 9, "function", _perceptual_reference,
           "a tensor of shape [N]: sum over layers of the squared feature differences summed over features",
           [Mistake("only the last layer is used", "sum the squared differences of EVERY layer the feature "
                    "extractor returns.", lambda f, a, b: _perceptual(f, a, b, layers=[-1])),
            Mistake("mean instead of sum over the feature dimensions", "sum the squared differences over "
                    "each layer's features (like pixels in a reconstruction loss).",
                    lambda f, a, b: _perceptual(f, a, b, reduce="mean")),
            Mistake("absolute instead of squared differences", "the perceptual loss here is a squared "
                    "(L2) distance between features.", lambda f, a, b: _perceptual(f, a, b, power=1))],
           _cases_perceptual))

# ---- chapter 10
_task(Task("feature_statistics", 10, "function", _stats_reference,
           "a tuple (mu [F], sigma [F, F]) of numpy arrays: mean and unbiased covariance of the features",
           [Mistake("np.cov treated rows as variables", "features is [N, F] with one image per row: use "
                    "np.cov(features, rowvar=False) to get an [F, F] matrix.",
                    lambda f: (f.mean(0), np.cov(f))),
            Mistake("biased covariance (divided by N)", "use the unbiased estimate, divided by N - 1 "
                    "(np.cov's default ddof).", lambda f: _stats(f, ddof=0)),
            Mistake("the features were not centred", "the covariance is E[(f - mu)(f - mu)^T]: subtract the "
                    "mean first.", lambda f: (f.mean(0), f.T @ f / (f.shape[0] - 1)))],
           _cases_stats))
_task(Task("frechet_distance", 10, "function", _frechet_reference,
           "a Python float: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})",
           [Mistake("the Frechet distance without its trace term", "add Tr(S1 + S2 - 2 (S1 S2)^{1/2}): "
                    "two sets with the same mean but different spreads are not at distance 0.",
                    lambda *a: _frechet_local(*a, trace=False)),
            Mistake("the complex square root left in", "scipy.linalg.sqrtm can return a complex matrix with a "
                    "tiny imaginary part; keep its real part (covmean.real) so the distance is a real float.",
                    lambda *a: _frechet_local(*a, keep_complex=True)),
            Mistake("element-wise square root instead of the matrix square root", "(S1 S2)^{1/2} is a matrix "
                    "square root (scipy.linalg.sqrtm), not np.sqrt of the entries.",
                    lambda *a: _frechet_local(*a, sqrt="elementwise")),
            Mistake("the mean term is not squared", "the mean term is the SQUARED distance "
                    "||mu1 - mu2||^2 = (mu1 - mu2) @ (mu1 - mu2).", lambda *a: _frechet_local(*a, squared=False)),
            Mistake("the factor 2 on the cross term is missing", "the trace term is Tr(S1) + Tr(S2) - "
                    "2 Tr((S1 S2)^{1/2}).", lambda *a: _frechet_local(*a, cross=1.0))],
           _cases_fid))

# ---- chapter 11
_task(Task("log_importance_weights", 11, "function", _log_w,
           "a tensor of shape [k, N]: log p(x|z) + log p(z) - log q(z|x) in nats",
           [Mistake("the sign of log q(z|x) is flipped", "the importance weight is p(x, z) / q(z|x): "
                    "subtract log q.", lambda a, z, mu, lv: _log_w(a, z, mu, lv, q_sign=1.0)),
            Mistake("the prior log p(z) is missing", "p(x, z) = p(x|z) p(z): add log N(z; 0, I) summed over "
                    "the latent dimensions.", lambda a, z, mu, lv: _log_w(a, z, mu, lv, prior=False)),
            _m(LOG_SIGMA, lambda a, z, mu, lv: _log_w(a, z, mu, lv, logvar_as_log_sigma=True))],
           _cases_log_w))
_task(Task("iwae_bound", 11, "function", _iwae,
           "a tensor of shape [N]: L_k = log (1/k) sum_i exp(log_w_i) in nats per image",
           [Mistake("the mean of the log-weights (that is the ELBO, not L_k)", "L_k takes the log of the "
                    "MEAN of the weights: torch.logsumexp(log_w, 0) - log k.", lambda lw: lw.mean(0)),
            Mistake("the - log k term is missing", "average the k weights: subtract math.log(k) after the "
                    "logsumexp.", lambda lw: torch.logsumexp(lw, dim=0)),
            Mistake("log(mean(exp(log_w))) computed naively: it underflows", "exp(-800) is 0 in floating "
                    "point, so the log gives -inf; use torch.logsumexp, which subtracts the maximum first.",
                    lambda lw: torch.log(torch.exp(lw).mean(0))),
            Mistake("reduced over the images instead of the samples", "log_w is [k, N]: reduce over the k "
                    "samples (dim 0), one bound per image.",
                    lambda lw: torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]))],
           _cases_iwae))


# ------------------------------------------------------------------------------- public checkers

def _make_checker(task: Task) -> Callable[[Any], None]:
    def checker(answer: Any) -> None:
        run_check(task, answer)

    checker.__name__ = checker.__qualname__ = f"check_{task.name}"
    what = "your function" if task.kind == "function" else "your value"
    checker.__doc__ = (f"Chapter {task.chapter} exercise: check {what} for ``{task.name}``; expects "
                       f"{task.expect}.\n\nPrints a pass line, or raises CheckFailed (an AssertionError) "
                       f"naming the mistake. Recognises: " + "; ".join(m.name for m in task.mistakes) + ".")
    return checker


for _name, _t in TASKS.items():
    globals()[f"check_{_name}"] = _make_checker(_t)
    __all__.append(f"check_{_name}")


def catalogue() -> list[tuple[str, str]]:
    """(task, mistake) pairs: every wrong answer the checkers recognise by name."""
    return [(t.name, m.name) for t in TASKS.values() for m in t.mistakes]
