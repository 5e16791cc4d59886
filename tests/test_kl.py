"""The closed-form KL of vae_teach.kl against torch.distributions and against Monte Carlo."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_teach.kl import kl_diag_gaussians, kl_monte_carlo


def _torch_kl(mu, logvar, pm, plv):
    q = Normal(mu, (0.5 * logvar).exp())
    pm, plv = torch.as_tensor(pm, dtype=mu.dtype), torch.as_tensor(plv, dtype=mu.dtype)
    p = Normal(pm.expand_as(mu), (0.5 * plv).exp().expand_as(mu))
    return kl_divergence(q, p).sum(dim=1)


@pytest.mark.parametrize("prior", [(0.0, 0.0), (1.0, math.log(4.0)), (-2.5, math.log(0.3))])
def test_closed_form_matches_torch_distributions(prior):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 8, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(64, 8, generator=g, dtype=torch.float64)
    ours = kl_diag_gaussians(mu, logvar, *prior)
    assert ours.shape == (64,)
    torch.testing.assert_close(ours, _torch_kl(mu, logvar, *prior), rtol=1e-10, atol=1e-10)


def test_closed_form_matches_torch_with_per_dimension_prior():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g)
    pm, plv = torch.randn(5, generator=g), torch.randn(5, generator=g)
    torch.testing.assert_close(kl_diag_gaussians(mu, logvar, pm, plv), _torch_kl(mu, logvar, pm, plv),
                               rtol=1e-5, atol=1e-5)


def test_standard_prior_is_the_familiar_formula():
    g = torch.Generator().manual_seed(2)
    mu, logvar = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    familiar = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    torch.testing.assert_close(kl_diag_gaussians(mu, logvar), familiar)


def test_kl_is_zero_iff_distributions_equal_and_positive_otherwise():
    mu = torch.full((3, 2), 1.0)
    logvar = torch.full((3, 2), math.log(4.0))
    assert torch.allclose(kl_diag_gaussians(mu, logvar, 1.0, math.log(4.0)), torch.zeros(3), atol=1e-7)
    assert (kl_diag_gaussians(mu, logvar) > 0).all()


def test_closed_form_agrees_with_monte_carlo():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5
    exact = kl_diag_gaussians(mu, logvar, 1.0, math.log(4.0))
    mc = kl_monte_carlo(mu, logvar, 1.0, math.log(4.0), n_samples=200_000, generator=g)
    assert torch.allclose(mc, exact, atol=0.02, rtol=0.01)


def test_kl_rejects_mismatched_shapes_and_non_tensors():
    with pytest.raises(ValueError, match="shape"):
        kl_diag_gaussians(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="mu must be"):
        kl_diag_gaussians([0.0, 1.0], torch.zeros(2))
    with pytest.raises(ValueError, match="batch dimension"):
        kl_diag_gaussians(torch.zeros(3), torch.zeros(3))
