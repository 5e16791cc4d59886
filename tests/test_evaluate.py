"""The IWAE bound and active units."""
import torch

from vae_teach import build_model, fit
from vae_teach.losses import loss_terms
from vae_teach.evaluate import active_units, iwae_log_likelihood, iwae_nll, negative_elbo


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
