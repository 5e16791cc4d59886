"""The exercise checkers (vae_teach.checks): accept the reference, name every catalogued mistake,
and say plainly what is wrong with wrong types, shapes, NaNs and functions that raise."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_teach import checks
from vae_teach.checks import CheckFailed, TASKS, ch02_em, ch09_reconstruction_losses, ch10_fid, run_check

FUNCTION_TASKS = [t for t in TASKS.values() if t.kind == "function"]
MISTAKES = [(t.name, m.name) for t in TASKS.values() for m in t.mistakes]


def _answer(task, fn):
    return fn if task.kind == "function" else fn()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_reference_solution_passes_with_a_tick(name, capsys):
    task = TASKS[name]
    getattr(checks, f"check_{name}")(_answer(task, task.reference))
    out = capsys.readouterr().out
    assert name in out and ("✓" in out or "[ok]" in out)


@pytest.mark.parametrize("name, mistake", MISTAKES, ids=[f"{t}-{m}" for t, m in MISTAKES])
def test_each_catalogued_mistake_is_rejected_with_its_own_hint(name, mistake):
    task = TASKS[name]
    m = next(m for m in task.mistakes if m.name == mistake)
    with pytest.raises(CheckFailed) as err:
        getattr(checks, f"check_{name}")(_answer(task, m.fn))
    msg = str(err.value)
    assert f"Recognised mistake: {m.name}." in msg and m.hint in msg
    others = [o.name for o in task.mistakes if o.name != m.name and o.name not in m.name]
    assert not any(f"mistake: {o}." in msg for o in others)


def test_catalogue_covers_the_mistakes_the_issue_names():
    names = " | ".join(m for _, m in MISTAKES)
    for required in ["the sign of the KL is flipped", "log sigma^2 used as log sigma",
                     "a missing 1/2", "mean instead of sum over the latent dimensions",
                     "mean instead of sum over the pixels",
                     "reparameterizing with the variance instead of the standard deviation",
                     "E-step responsibilities not normalised",
                     "the Frechet distance without its trace term", "the complex square root left in"]:
        assert required in names, required


def test_checker_is_a_check_failed_which_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)


@pytest.mark.parametrize("name", [t.name for t in FUNCTION_TASKS])
def test_a_value_instead_of_a_function_is_named(name):
    with pytest.raises(CheckFailed, match="expected a function"):
        run_check(TASKS[name], 3.0)


@pytest.mark.parametrize("name", [t.name for t in FUNCTION_TASKS])
def test_returning_none_names_the_type(name):
    with pytest.raises(CheckFailed, match=r"expected .*, got NoneType"):
        run_check(TASKS[name], lambda *a: None)


@pytest.mark.parametrize("name", [t.name for t in FUNCTION_TASKS])
def test_a_function_that_raises_is_reported_with_its_error(name):
    def broken(*args):
        raise ValueError("boom")
    with pytest.raises(CheckFailed, match="your function raised ValueError: boom"):
        run_check(TASKS[name], broken)


@pytest.mark.parametrize("name", [t.name for t in FUNCTION_TASKS])
def test_not_implemented_error_propagates_unchanged(name):
    def stub(*args):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError, match="write it"):
        run_check(TASKS[name], stub)


def _map_first(out, f):
    if isinstance(out, tuple):
        return (f(out[0]),) + tuple(out[1:])
    return f(out)


def _extra_dim(a):
    if torch.is_tensor(a):
        return a.unsqueeze(-1)
    return np.asarray(a)[..., None]


def _nan_like(a):
    if torch.is_tensor(a):
        return torch.full_like(a.double(), float("nan"))
    if isinstance(a, np.ndarray):
        return np.full(a.shape, np.nan)
    return float("nan")


@pytest.mark.parametrize("name", [t.name for t in FUNCTION_TASKS])
def test_a_wrong_shape_is_named(name):
    task = TASKS[name]
    with pytest.raises(CheckFailed, match="wrong shape"):
        run_check(task, lambda *a: _map_first(task.reference(*a), _extra_dim))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_nan_results_are_named(name):
    task = TASKS[name]
    answer = (lambda *a: _map_first(task.reference(*a), _nan_like)) if task.kind == "function" else math.nan
    with pytest.raises(CheckFailed, match="NaN"):
        run_check(task, answer)


def test_value_task_rejects_a_function_and_a_string():
    with pytest.raises(CheckFailed, match="got a function"):
        checks.check_kl_value(lambda: 0.44)
    with pytest.raises(CheckFailed, match="got str"):
        checks.check_kl_value("0.44")


def test_value_task_accepts_three_decimals():
    checks.check_kl_value(round(math.log(2) + 0.25 - 0.5, 3))


def test_an_unrecognised_wrong_answer_gets_the_generic_message():
    # no catalogued mistake and no generic diagnosis explains this one: the message ends with the task's own
    # re-read line (not the old one-size-fits-all "units, which dimensions to sum, signs")
    with pytest.raises(CheckFailed, match="do not match any mistake") as err:
        checks.check_reparameterize(lambda mu, logvar, eps: mu + (0.5 * logvar).exp() * eps * (1 + 0.1 * mu))
    assert TASKS["reparameterize"].reread in str(err.value)


def test_a_student_editing_inputs_in_place_does_not_change_the_reference():
    def inplace(mu, logvar, eps):
        mu.mul_(0.0)
        return mu + (0.5 * logvar).exp() * eps
    with pytest.raises(CheckFailed):
        checks.check_reparameterize(inplace)
    checks.check_reparameterize(lambda mu, logvar, eps: mu + (0.5 * logvar).exp() * eps)


def test_frechet_complex_result_is_not_accepted_even_with_tiny_imaginary_part():
    task = TASKS["frechet_distance"]
    with pytest.raises(CheckFailed, match="complex square root"):
        run_check(task, lambda *a: complex(task.reference(*a)) + 1e-12j)


def test_checkers_use_the_package_references():
    from vae_teach import kl, losses
    (mu, logvar), = TASKS["kl_standard_normal"].make_cases()
    assert torch.allclose(TASKS["kl_standard_normal"].reference(mu, logvar), kl.kl_diag_gaussians(mu, logvar))
    (x_hat, x), = TASKS["mae_per_image"].make_cases()
    assert torch.allclose(TASKS["mae_per_image"].reference(x_hat, x), losses.mae(x_hat, x, reduction="none"))


def test_references_come_from_the_package_modules_of_the_chapters():
    from vae_teach import em, fid, losses
    (x, w, m, v), = TASKS["e_step"].make_cases()
    assert np.allclose(TASKS["e_step"].reference(x, w, m, v).numpy(),
                       em.e_step(x.numpy(), ch02_em._em_params(w, m, v))[0])
    (f,), = TASKS["feature_statistics"].make_cases()
    assert np.allclose(TASKS["feature_statistics"].reference(f)[1], fid.feature_statistics(f)[1])
    args, = TASKS["frechet_distance"].make_cases()
    assert TASKS["frechet_distance"].reference(*args) == fid.frechet_distance(*args)
    feats, a, b = TASKS["perceptual_loss"].make_cases()[0]
    assert torch.allclose(TASKS["perceptual_loss"].reference(feats, a, b),
                          losses.perceptual(a, b, classifier=ch09_reconstruction_losses._FeatureNet(feats), reduction="none"))
    # and the local fallbacks agree with them
    assert torch.allclose(ch02_em._e_step(x, w, m, v), TASKS["e_step"].reference(x, w, m, v))
    assert abs(ch02_em._gmm_ll_local(x, w, m, v) - TASKS["gmm_log_likelihood"].reference(x, w, m, v)) < 1e-9
    assert abs(ch10_fid._frechet_local(*args) - fid.frechet_distance(*args)) < 1e-9


@pytest.mark.parametrize("in_thread", [False, True], ids=["main thread (timer signal)", "other thread (abandoned worker)"])
def test_a_function_that_never_returns_is_stopped_with_a_clear_message(monkeypatch, in_thread):
    import threading

    monkeypatch.setattr(checks.core, "TIME_LIMIT", 0.3)
    task = next(t for t in FUNCTION_TASKS)

    stop = threading.Event()  # ends the abandoned worker after the test (a real never-ending one would spin on)

    def forever(*args):
        while not stop.is_set():
            stop.wait(0.01)

    caught = {}

    def run():
        try:
            getattr(checks, f"check_{task.name}")(forever)
        except CheckFailed as e:
            caught["msg"] = str(e)

    if in_thread:
        t = threading.Thread(target=run)
        t.start()
        t.join(5)
    else:
        run()
    stop.set()
    assert "did not return within 0.3 s" in caught["msg"]
