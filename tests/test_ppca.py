"""The linear-Gaussian model of chapter 3 (vae_teach.ppca): exact evidence, posterior and ELBO."""
import math

import pytest
import torch

from vae_teach.ppca import PPCA, kl_gaussians


def _model():
    g = torch.Generator().manual_seed(0)
    return PPCA(torch.randn(5, 2, generator=g, dtype=torch.float64),
                torch.randn(5, generator=g, dtype=torch.float64), 0.5)


def test_posterior_is_bayes_rule_on_a_grid():
    m = _model()
    x, _ = m.sample(1, seed=1)
    mean, cov = m.posterior(x)
    # unnormalised log p(x|z) + log p(z) on a grid, minus the exact log posterior: constant = log p(x)
    z = mean + torch.randn(200, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    log_joint = m.log_likelihood_given_z(x, z) - 0.5 * z.pow(2).sum(1) - math.log(2 * math.pi)
    log_post = torch.distributions.MultivariateNormal(mean[0], cov).log_prob(z)
    torch.testing.assert_close(log_joint - log_post, m.log_likelihood(x).expand(200), rtol=0, atol=1e-10)


def test_evidence_is_the_prior_expectation_of_the_likelihood():
    m = _model()
    x, _ = m.sample(1, seed=3)
    z = torch.randn(400_000, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mc = torch.logsumexp(m.log_likelihood_given_z(x, z), 0) - math.log(z.shape[0])
    assert abs(float(mc - m.log_likelihood(x)[0])) < 0.02


def test_elbo_gap_is_kl_to_posterior_and_vanishes_at_it():
    m = _model()
    x, _ = m.sample(20, seed=5)
    g = torch.Generator().manual_seed(6)
    qm = torch.randn(20, 2, generator=g, dtype=torch.float64)
    A = torch.randn(20, 2, 2, generator=g, dtype=torch.float64)
    qS = A @ A.transpose(1, 2) + 0.1 * torch.eye(2, dtype=torch.float64)
    lp, el = m.log_likelihood(x), m.elbo(x, qm, qS)
    assert torch.all(el < lp)
    pm, pS = m.posterior(x)
    kl = kl_gaussians(qm, qS, pm, pS.expand(20, 2, 2))
    torch.testing.assert_close(lp - el, kl, rtol=0, atol=1e-10)
    torch.testing.assert_close(m.elbo(x, pm, pS), lp, rtol=0, atol=1e-10)


def test_monte_carlo_elbo_matches_closed_form():
    m = _model()
    x, _ = m.sample(3, seed=7)
    qm, qS = torch.zeros(3, 2, dtype=torch.float64), 0.3 * torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(m.elbo_monte_carlo(x, qm, qS, n_samples=200_000), m.elbo(x, qm, qS),
                               rtol=0, atol=0.05)


def test_kl_gaussians_matches_torch():
    g = torch.Generator().manual_seed(8)
    A, B = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64)
    S1, S2 = A @ A.mT + torch.eye(3), B @ B.mT + torch.eye(3)
    m1, m2 = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(m1, S1),
                                            torch.distributions.MultivariateNormal(m2, S2))
    torch.testing.assert_close(kl_gaussians(m1, S1, m2, S2), ref)


def test_bad_input():
    with pytest.raises(ValueError, match="sigma2"):
        PPCA(torch.zeros(3, 2), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="b must have shape"):
        PPCA(torch.zeros(3, 2), torch.zeros(2), 1.0)
    m = _model()
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        m.log_likelihood(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="q_cov"):
        m.elbo(torch.zeros(4, 5), torch.zeros(4, 2), torch.eye(3))
