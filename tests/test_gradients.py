"""Chapter 4's gradient estimators (vae_teach.gradients): unbiased, and the variance ordering."""
import pytest
import torch

from vae_teach.gradients import reparameterization_gradient, score_function_gradient


def square(z):
    return z ** 2  # E[z^2] = mu^2 + sigma^2: dL/dmu = 2 mu, dL/dsigma = 2 sigma


@pytest.mark.parametrize("estimator", [reparameterization_gradient, score_function_gradient])
def test_unbiased_for_a_known_gradient(estimator):
    mu, sigma = 1.0, 0.7
    g = estimator(square, mu, sigma, n_samples=10, repeats=20000, seed=0)
    assert g.shape == (20000, 2)
    exact = torch.tensor([2 * mu, 2 * sigma], dtype=torch.float64)
    se = g.std(0) / g.shape[0] ** 0.5
    assert torch.all((g.mean(0) - exact).abs() < 4 * se)


def test_unbiased_for_cosine():
    # E[cos z] = cos(mu) exp(-sigma^2 / 2)
    mu, sigma = 0.5, 1.2
    exact = torch.tensor([-torch.sin(torch.tensor(mu)) * torch.exp(torch.tensor(-sigma ** 2 / 2)),
                          -sigma * torch.cos(torch.tensor(mu)) * torch.exp(torch.tensor(-sigma ** 2 / 2))],
                         dtype=torch.float64)
    for est in (reparameterization_gradient, score_function_gradient):
        g = est(torch.cos, mu, sigma, n_samples=5, repeats=40000, seed=1)
        assert torch.all((g.mean(0) - exact).abs() < 4 * g.std(0) / 200)


def test_reparameterization_has_lower_variance_and_it_falls_as_one_over_n():
    v = {}
    for n in (1, 100):
        rp = reparameterization_gradient(square, 1.0, 1.0, n, repeats=4000, seed=n)
        sf = score_function_gradient(square, 1.0, 1.0, n, repeats=4000, seed=n)
        assert torch.all(rp.var(0) < sf.var(0) / 3)
        v[n] = rp.var(0)
    ratio = v[1] / v[100]
    assert torch.all((ratio > 70) & (ratio < 140))


def test_constant_baseline_keeps_it_unbiased_and_can_reduce_variance():
    a = score_function_gradient(square, 1.0, 1.0, 10, repeats=20000, seed=2)
    b = score_function_gradient(square, 1.0, 1.0, 10, repeats=20000, seed=2, baseline=2.0)
    assert torch.all((b.mean(0) - torch.tensor([2.0, 2.0], dtype=torch.float64)).abs() < 4 * b.std(0) / 141)
    assert b[:, 0].var() < a[:, 0].var()


def test_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        reparameterization_gradient(square, 0.0, -1.0, 10)
    with pytest.raises(ValueError, match="n_samples"):
        score_function_gradient(square, 0.0, 1.0, 0)
