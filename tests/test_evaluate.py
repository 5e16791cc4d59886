"""The IWAE bound, active units and the rate per unit."""
import math

import pytest
import torch

from vae_teach import build_model, fit
from vae_teach.losses import loss_terms
from vae_teach.evaluate import (active_units, informative_units, iwae_log_likelihood, iwae_nll, kl_per_unit,
                                negative_elbo)
from vae_teach.train import evaluate_terms


def _trained(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(600, 1, 28, 28, generator=g) < torch.linspace(0.05, 0.6, 784).view(1, 1, 28, 28)).float()
    torch.manual_seed(seed)  # the initial weights: independent of which tests ran before
    m = build_model(latent_dim=4, hidden=(64,))
    fit(m, x[:500], None, epochs=3, batch_size=50, seed=seed)
    return m, x[500:]


def test_iwae_bound_rises_with_k_on_average_and_is_at_least_the_elbo():
    m, x = _trained()
    elbo = -negative_elbo(m, x)
    l1 = iwae_log_likelihood(m, x, 1, seed=1)
    torch.manual_seed(0)
    elbo_per_image = -loss_terms(m, x, reduction="none").loss.detach()
    # L_1 is the ELBO: per image, two one-sample estimates (different z draws) of the same quantity;
    # their mean paired difference is within 4 standard errors of zero
    diff = l1 - elbo_per_image
    se = float(diff.std() / len(diff) ** 0.5)
    assert abs(float(diff.mean())) < 4 * se, (float(diff.mean()), se)
    bounds = [float(iwae_log_likelihood(m, x, k, seed=1).mean()) for k in (1, 10, 100, 1000)]
    assert bounds[0] < bounds[1] < bounds[2] < bounds[3]
    assert bounds[3] >= elbo


def test_iwae_chunking_does_not_change_the_estimate():
    m, x = _trained()
    a = iwae_log_likelihood(m, x[:20], 300, seed=3, max_rows=20 * 300)
    b = iwae_log_likelihood(m, x[:20], 300, seed=3, max_rows=20 * 300)
    c = iwae_log_likelihood(m, x[:20], 300, seed=3, max_rows=20 * 7)   # 43 chunks
    torch.testing.assert_close(a, b)
    assert abs(float(a.mean()) - float(c.mean())) < 1.0  # same estimator, different draws
    assert iwae_nll(m, x[:20], 10) > 0


def test_active_units_counts_dimensions_whose_posterior_mean_varies():
    m, x = _trained()
    n, var = active_units(m, x)
    assert var.shape == (4,) and n == int((var > 0.01).sum())
    with torch.no_grad():  # kill one unit: its posterior mean no longer depends on x
        m.to_mu.weight[0].zero_()
    n2, _ = active_units(m, x)
    assert n2 == n - 1 if var[0] > 0.01 else n2 == n


def test_kl_per_unit_sums_to_the_models_kl_term():
    m, x = _trained()
    rates = kl_per_unit(m, x, batch_size=37)                   # batches of unequal size: still a mean over images
    kl_term = evaluate_terms(m, x, recon="auto", beta=1.0, prior_mu=0.0, prior_logvar=0.0, seed=0)[2]
    assert rates.shape == (4,) and (rates >= 0).all()
    assert abs(float(rates.sum()) - kl_term) < 1e-3 * max(1.0, kl_term)


def test_kl_per_unit_uses_the_given_prior():
    m, x = _trained()
    with torch.no_grad():
        mu, logvar = m.encode(x)
    pm, plv = 1.0, math.log(4.0)
    by_hand = (0.5 * (plv - logvar + (logvar.exp() + (mu - pm) ** 2) / 4.0 - 1.0)).mean(0)
    torch.testing.assert_close(kl_per_unit(m, x, prior_mu=pm, prior_logvar=plv), by_hand, rtol=1e-4, atol=1e-5)


def test_informative_units_counts_units_above_the_threshold_and_a_collapsed_unit_drops_out():
    m, x = _trained()
    n, rates = informative_units(m, x)
    assert n == int((rates > 0.1).sum())
    assert informative_units(m, x, threshold=0.0)[0] == 4
    with torch.no_grad():  # collapse unit 0 onto the prior: mean 0, variance 1 for every x
        m.to_mu.weight[0].zero_(); m.to_mu.bias[0] = 0.0
        m.to_logvar.weight[0].zero_(); m.to_logvar.bias[0] = 0.0
    n2, rates2 = informative_units(m, x)
    assert float(rates2[0]) < 1e-6
    assert n2 == (n - 1 if rates[0] > 0.1 else n)


def test_informative_units_refuses_a_negative_threshold_and_an_autoencoder():
    m, x = _trained()
    with pytest.raises(ValueError, match="threshold"):
        informative_units(m, x, threshold=-1.0)
    with pytest.raises(TypeError, match="needs a one-layer VAE"):
        kl_per_unit(build_model(kind="ae", latent_dim=2, hidden=(8,)), x)
