"""The two-stochastic-layer VAE (chapter 14): shapes, ELBO terms against Monte Carlo, per-layer KL, training."""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_teach import fit
from vae_teach.evaluate import active_units, iwae_nll, negative_elbo
from vae_teach.hierarchical import active_units_top, build_hierarchical, kl_per_layer
from vae_teach.iwae import IWAE
from vae_teach.train import evaluate_terms


def _toy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float()


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_hierarchical(**kw)


def test_burda_architecture_and_output_shapes():
    m, x = _model(), _toy(8)
    sizes = {name: [(l.in_features, l.out_features) for l in mod.modules() if isinstance(l, nn.Linear)]
             for name, mod in (("q_z1", m.q_z1), ("q_z2", m.q_z2), ("p_z1", m.p_z1), ("p_x", m.p_x))}
    assert sizes == {"q_z1": [(784, 200), (200, 200), (200, 100), (200, 100)],
                     "q_z2": [(100, 100), (100, 100), (100, 50), (100, 50)],
                     "p_z1": [(50, 100), (100, 100), (100, 100), (100, 100)],
                     "p_x": [(100, 200), (200, 200), (200, 784)]}
    assert sum(isinstance(l, nn.Tanh) for l in m.modules()) == 8
    o = m(x)
    assert o.x_params.shape == (8, 1, 28, 28)
    assert o.z1.shape == o.mu1.shape == o.prior_mu1.shape == (8, 100) and o.z2.shape == o.mu2.shape == (8, 50)
    assert m.log_weights(x, 3).log_w.shape == (3, 8)
    assert m.sample(5).shape == (5, 1, 28, 28) and m.reconstruct(x).shape == (8, 1, 28, 28)
    t = m.elbo_terms(x, reduction="none")
    assert all(v.shape == (8,) for v in t)


def test_elbo_terms_are_the_stated_densities_with_the_same_noise():
    m, x = _model(), _toy(16)
    torch.manual_seed(2)
    t = m.elbo_terms(x, reduction="none")
    torch.manual_seed(2)
    o = m(x)
    rec = -Bernoulli(logits=o.x_params).log_prob(x).flatten(1).sum(1)
    kl1 = (Normal(o.mu1, (0.5 * o.logvar1).exp()).log_prob(o.z1)
           - Normal(o.prior_mu1, (0.5 * o.prior_logvar1).exp()).log_prob(o.z1)).sum(1)
    kl2 = kl_divergence(Normal(o.mu2, (0.5 * o.logvar2).exp()), Normal(0.0, 1.0)).sum(1)
    for got, want in ((t.recon, rec), (t.kl_z1, kl1), (t.kl_z2, kl2), (t.kl, kl1 + kl2), (t.loss, rec + kl1 + kl2)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-3)
    torch.manual_seed(2)
    t2 = m.elbo_terms(x, beta=0.5, reduction="none")
    torch.testing.assert_close(t2.loss, rec + 0.5 * (kl1 + kl2), rtol=0, atol=1e-3)


def test_elbo_terms_agree_with_the_monte_carlo_log_weights():
    """Mean of the one-sample -ELBO (closed-form KL for z2) over S draws vs -mean log w (all Monte Carlo)."""
    m, x, s = _model(), _toy(8), 2000
    torch.manual_seed(0)
    with torch.no_grad():
        a = m.elbo_terms(x.repeat(s, 1, 1, 1), reduction="none").loss.view(s, -1)          # [S, N]
        b = -m.log_weights(x, s, generator=torch.Generator().manual_seed(1)).log_w          # [S, N]
    se = ((a.var(0) + b.var(0)) / s).sqrt()
    z = ((a.mean(0) - b.mean(0)) / se).abs()
    assert float(z.max()) < 4.0, z  # within 4 standard errors, image by image
    # the closed-form KL of z2 matches its Monte Carlo estimate log q(z2|z1) - log N(z2; 0, I)
    with torch.no_grad():
        o = m(x.repeat(200, 1, 1, 1))
        mc = (Normal(o.mu2, (0.5 * o.logvar2).exp()).log_prob(o.z2) - Normal(0.0, 1.0).log_prob(o.z2)).sum(1)
        cf = kl_divergence(Normal(o.mu2, (0.5 * o.logvar2).exp()), Normal(0.0, 1.0)).sum(1)
    d = mc - cf
    assert abs(float(d.mean())) < 4 * float(d.std()) / math.sqrt(d.numel())


def test_per_layer_kl_is_reported_and_sums_to_the_elbos_kl():
    m, x = _model(), _toy(64)
    kl1, kl2 = kl_per_layer(m, x, seed=3)
    _, _, kl = evaluate_terms(m, x, seed=3)
    assert math.isclose(kl1 + kl2, kl, rel_tol=1e-5) and kl2 > 0
    n1, v1 = active_units(m, x)
    n2, v2 = active_units_top(m, x, n_samples=10)
    assert v1.shape == (100,) and v2.shape == (50,) and 0 <= n1 <= 100 and 0 <= n2 <= 50


def test_fit_trains_the_two_layer_model_and_iwae_evaluates_it():
    x = _toy(256)
    m = _model(1)
    h = fit(m, x[:192], x[192:], epochs=3, batch_size=32, seed=0, binarize="dynamic")
    assert h.train_loss[-1] < h.train_loss[0] - 10 and h.test_loss[-1] < h.test_loss[0]
    assert all(v > 0 for v in h.train_kl)
    ne, nll = negative_elbo(m, x[192:]), iwae_nll(m, x[192:], k=50)
    assert nll < ne  # the IWAE-50 bound is tighter than the ELBO
    h2 = fit(_model(1), x[:64], epochs=1, batch_size=32, objective=IWAE(k=3))
    assert h2.train_loss[0] <= h2.train_nelbo[0]


def test_two_layer_model_refuses_what_it_cannot_do():
    m, x = _model(), _toy(4)
    with pytest.raises(ValueError, match="recon must be 'auto' or 'bce'"):
        m.elbo_terms(x, recon="mse")
    with pytest.raises(ValueError, match="prior_mu and prior_logvar must stay 0"):
        fit(m, x, epochs=1, prior_mu=1.0)
    with pytest.raises(TypeError, match="divide by 255|x.float"):
        m.encode((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="leave kind and decoder"):
        build_hierarchical(decoder="gaussian")
    with pytest.raises(ValueError, match="HierarchicalConfig.latent2 >= 1"):
        build_hierarchical(latent2=0)
    with pytest.raises(TypeError, match="HierarchicalConfig.hidden1 must be a tuple"):
        build_hierarchical(hidden1=200)
    with pytest.raises(ValueError, match="expected images of shape"):
        m.encode(x.view(4, 784))


def test_checkpoint_round_trip_rebuilds_the_two_layer_model(tmp_path):
    from vae_teach import load_checkpoint, save_checkpoint

    m, x = _model(latent2=7), _toy(4)
    path = save_checkpoint(tmp_path / "h.pt", m)
    m2, _, _ = load_checkpoint(path)
    assert type(m2).__name__ == "HierarchicalVAE" and m2.config == m.config
    torch.testing.assert_close(m2.encode(x), m.encode(x), rtol=0, atol=0)
    g1, g2 = (torch.Generator().manual_seed(0) for _ in range(2))
    torch.testing.assert_close(m2.log_weights(x, 3, g1).log_w, m.log_weights(x, 3, g2).log_w, rtol=0, atol=0)


def test_the_activation_is_tanh_by_default_relu_on_request_and_anything_else_is_refused():
    from torch import nn

    from vae_teach.hierarchical import HierarchicalConfig, build_hierarchical

    acts = lambda m: {type(l) for l in m.modules() if isinstance(l, (nn.Tanh, nn.ReLU))}
    assert acts(build_hierarchical()) == {nn.Tanh}
    assert acts(build_hierarchical(activation="relu")) == {nn.ReLU}
    with pytest.raises(ValueError, match="activation must be one of"):
        HierarchicalConfig(activation="gelu")
