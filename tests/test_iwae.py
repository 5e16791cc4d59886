"""The IWAE bound as a training objective (chapter 13): L_1 = ELBO, L_k rises with k, gradients, fit."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vae_teach import build_model, fit
from vae_teach.evaluate import iwae_log_likelihood
from vae_teach.iwae import IWAE, iwae_bound, log_weights
from vae_teach.kl import gaussian_log_density
from vae_teach.losses import bce


def _toy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float()


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model(latent_dim=4, hidden=(32,))


def test_iwae_bound_at_k1_is_the_elbo_estimate_with_the_same_noise():
    m, x = _model(), _toy()
    torch.manual_seed(5)
    out = m(x)  # z = mu + sigma * eps with eps from the global stream
    elbo = (-bce(out.x_params, x, reduction="none") + gaussian_log_density(out.z, torch.zeros_like(out.z),
            torch.zeros_like(out.z)) - gaussian_log_density(out.z, out.mu, out.logvar))
    torch.manual_seed(5)
    l1 = iwae_bound(m, x, 1, reduction="none")
    assert torch.equal(l1, elbo)
    # and against torch.distributions, independently of the package's densities
    ref = (Bernoulli(logits=out.x_params).log_prob(x).flatten(1).sum(1) + Normal(0.0, 1.0).log_prob(out.z).sum(1)
           - Normal(out.mu, (0.5 * out.logvar).exp()).log_prob(out.z).sum(1))
    torch.testing.assert_close(l1, ref, rtol=0, atol=1e-3)


def test_iwae_bound_rises_with_k_on_average():
    m, x = _model(), _toy()
    g = torch.Generator().manual_seed(0)
    reps = 20
    with torch.no_grad():
        lk = {k: torch.stack([iwae_bound(m, x, k, generator=g, reduction="none") for _ in range(reps)]).mean(0)
              for k in (1, 5, 50)}
    for lo, hi in ((1, 5), (5, 50)):
        d = lk[hi] - lk[lo]  # paired: per image, averaged over the repetitions
        se = float(d.std() / math.sqrt(d.numel()))
        assert float(d.mean()) > 3 * se, (lo, hi, float(d.mean()), se)  # at least 3 standard errors above 0


def test_iwae_objective_gradient_reaches_encoder_and_decoder():
    m, x = _model(), _toy()
    t = IWAE(k=5).train_terms(m, x, step=0, steps_per_epoch=1)
    t.loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    # the objective lies below the k-sample negative ELBO estimate (Jensen: log-mean-exp >= mean)
    assert float(t.loss.detach()) <= float((t.recon + t.kl).detach())


def test_evaluate_iwae_uses_the_same_log_weights():
    m, x = _model(), _toy(50)
    a = iwae_log_likelihood(m, x, k=10, seed=3)
    with torch.no_grad():
        b = iwae_bound(m, x, 10, generator=torch.Generator().manual_seed(3), reduction="none")
    torch.testing.assert_close(a, b)


def test_fit_trains_on_the_iwae_objective():
    x = _toy(256)
    torch.manual_seed(1)
    m = build_model(latent_dim=4, hidden=(32,))
    h = fit(m, x[:192], x[192:], epochs=3, batch_size=32, seed=0, objective=IWAE(k=5))
    h2 = fit(_model(1), x[:192], x[192:], epochs=3, batch_size=32, seed=0, objective={"kind": "iwae", "k": 5})
    assert h.train_loss == h2.train_loss
    assert h.train_loss[-1] < h.train_loss[0]
    assert all(loss <= nelbo for loss, nelbo in zip(h.train_loss, h.train_nelbo))
    with pytest.raises(ValueError, match="beta=1"):
        fit(m, x, epochs=1, beta=0.5, objective=IWAE(k=5))
    with pytest.raises(ValueError, match="need IWAE.k >= 1"):
        IWAE(k=0)
    with pytest.raises(TypeError, match="needs a VAE"):
        log_weights(build_model(kind="ae", latent_dim=2, hidden=(8,)), x[:2], 3)


def test_optimizing_q_per_image_closes_the_amortization_gap_without_touching_the_model():
    from vae_teach.iwae import optimize_posterior, posterior_elbo

    m, x = _model(), _toy(32)
    before = [p.detach().clone() for p in m.parameters()]
    with torch.no_grad():
        mu0, lv0 = m.encode(x)
    mu, lv = optimize_posterior(m, x, steps=100, lr=0.05, seed=0)
    assert mu.shape == mu0.shape == lv.shape
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert all(p.grad is None and p.requires_grad for p in m.parameters())
    with torch.no_grad():
        amortized = posterior_elbo(m, x, mu0, lv0, n_samples=200, generator=torch.Generator().manual_seed(1))
        optimized = posterior_elbo(m, x, mu, lv, n_samples=200, generator=torch.Generator().manual_seed(1))
    gap = optimized - amortized
    assert float(gap.mean()) > 0.5 and float(gap.min()) > -0.1  # better for every image, up to noise


def test_optimized_q_is_the_prior_when_the_decoder_ignores_z():
    from vae_teach.iwae import optimize_posterior
    from vae_teach.kl import kl_diag_gaussians

    m, x = _model(), _toy(16)
    with torch.no_grad():
        m.decoder.body[0][0].weight.zero_()  # p(x|z) no longer depends on z: the best q is p(z)
    mu, lv = optimize_posterior(m, x, steps=300, lr=0.05, seed=0)
    assert float(kl_diag_gaussians(mu, lv).max()) < 0.05


def test_log_weight_matrix_reproduces_the_evaluators_bound_and_groups_give_every_L_k():
    from vae_teach.iwae import effective_sample_size, grouped_bound, log_mean_exp, log_weight_matrix
    m, x = _model(), _toy(30)
    lw = log_weight_matrix(m, x, 40, batch_size=7, max_rows=100, seed=2)  # several chunks per batch
    assert lw.shape == (40, 30)
    ref = iwae_log_likelihood(m, x, k=40, batch_size=7, max_rows=100, seed=2)
    torch.testing.assert_close(log_mean_exp(lw.double()).float(), ref, rtol=0, atol=1e-4)
    torch.testing.assert_close(grouped_bound(lw, 40), log_mean_exp(lw.double()))
    torch.testing.assert_close(grouped_bound(lw, 1), lw.double().mean(0))   # L_1: the mean log-weight
    with pytest.raises(ValueError, match="divide"):
        grouped_bound(lw, 3)
    ess = effective_sample_size(lw)
    assert bool((ess >= 1 - 1e-9).all() and (ess <= 40 + 1e-9).all())
    torch.testing.assert_close(effective_sample_size(torch.zeros(8, 3)), torch.full((3,), 8.0, dtype=torch.float64))


def test_iwae_warmup_anneals_the_kl_part_of_every_log_weight_then_is_exactly_L_k():
    m, x = _model(), _toy()
    spe = 10                                              # steps per epoch: T = 1 epoch = 10 steps
    plain, warm = IWAE(k=5), IWAE(k=5, warmup_epochs=1)
    for step, beta in ((0, 0.0), (4, 0.4), (10, 1.0), (25, 1.0)):
        torch.manual_seed(7)
        t = warm.train_terms(m, x, step=step, steps_per_epoch=spe)
        torch.manual_seed(7)
        lw = log_weights(m, x, 5)
        ref = -(torch.logsumexp(lw.log_px + beta * (lw.log_w - lw.log_px), 0) - math.log(5)).mean()
        torch.testing.assert_close(t.loss, ref)
        torch.manual_seed(7)
        p = plain.train_terms(m, x, step=step, steps_per_epoch=spe)
        torch.testing.assert_close(t.recon, p.recon)      # the reported terms are the true ones
        torch.testing.assert_close(t.kl, p.kl)
        if beta == 1.0:
            torch.testing.assert_close(t.loss, p.loss)    # after the ramp: exactly -L_k
    assert warm.to_dict() == {"kind": "iwae", "k": 5, "warmup_epochs": 1} and plain.to_dict() == {"kind": "iwae", "k": 5}
    with pytest.raises(ValueError, match="IWAE.warmup_epochs"):
        IWAE(k=5, warmup_epochs=-1)
