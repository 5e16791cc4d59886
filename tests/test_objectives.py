"""Training objectives (chapter 12): free bits, KL warm-up, and the true negative ELBO in the History."""
import math

import pytest
import torch

from vae_teach import build_model, fit
from vae_teach import objectives
from vae_teach.kl import kl_per_dimension
from vae_teach.losses import bce
from vae_teach.objectives import ELBO, free_bits_kl, warmup_beta


def _toy(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float()


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def test_free_bits_replaces_each_dimensions_batch_mean_kl_by_max_with_lambda():
    kl = torch.tensor([[0.0, 1.0, 3.0], [0.2, 0.0, 5.0]], requires_grad=True)  # batch means 0.1, 0.5, 4.0
    out = free_bits_kl(kl, 0.3)
    assert math.isclose(float(out.detach()), 0.3 + 0.5 + 4.0, rel_tol=1e-6)
    out.backward()
    # dimension 0 (mean 0.1 < lambda) gets no gradient; the others d/dKL_nj = 1/N
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]))
    assert math.isclose(float(free_bits_kl(kl.detach(), 0.0)), float(kl.detach().sum(1).mean()), rel_tol=1e-6)
    with pytest.raises(ValueError, match="kl_per_dim must be a \\[N, D\\]"):
        free_bits_kl(kl.sum(1), 0.3)


def test_free_bits_objective_is_recon_plus_clamped_kl_and_gives_collapsed_dims_no_kl_gradient():
    torch.manual_seed(0)
    m = build_model(latent_dim=4, hidden=(32,))
    with torch.no_grad():  # dimension 0 at the prior for every x: KL_0 = 0 < lambda
        m.to_mu.weight[0].zero_(); m.to_mu.bias[0].zero_(); m.to_logvar.weight[0].zero_(); m.to_logvar.bias[0].zero_()
        m.to_mu.bias[1:].fill_(1.5)  # the others well above lambda
    x, lam = _toy(64), 0.5
    torch.manual_seed(1)
    t = ELBO(free_bits=lam).train_terms(m, x, step=0, steps_per_epoch=1)
    t.loss.backward()
    g_fb = [m.to_mu.bias.grad.clone(), m.to_logvar.bias.grad.clone()]
    m.zero_grad()
    torch.manual_seed(1)  # the same noise: recon alone
    out = m(x)
    rec = bce(out.x_params, x)
    kl_nd = kl_per_dimension(out.mu, out.logvar)
    ref = rec + kl_nd.mean(0).clamp(min=lam).sum()
    assert float(kl_nd[:, 0].detach().abs().max()) == 0.0 and float(kl_nd[:, 1:].detach().mean(0).min()) > lam
    torch.testing.assert_close(t.loss, ref)
    torch.testing.assert_close(t.kl, kl_nd.sum(1).mean())  # the reported KL is the unclamped one
    rec.backward()
    g_rec = [m.to_mu.bias.grad.clone(), m.to_logvar.bias.grad.clone()]
    for a, b in zip(g_fb, g_rec):
        torch.testing.assert_close(a[0], b[0])  # collapsed dim: only the reconstruction's gradient
        assert (a[1:] - b[1:]).abs().min() > 1e-4  # active dims: the KL's gradient is there too


def test_free_bits_clamps_the_minibatch_mean_of_each_dimension_not_each_example_nor_the_total():
    # dimension 0: batch mean 0.3 < lambda = 0.4, though one image is above it; dimension 1: mean 0.6 > lambda,
    # though one image is below it
    kl = torch.tensor([[0.0, 1.1], [0.6, 0.1]])
    out = float(free_bits_kl(kl, 0.4))
    assert math.isclose(out, 0.4 + 0.6, rel_tol=1e-6)
    assert not math.isclose(out, float(kl.clamp(min=0.4).mean(0).sum()), rel_tol=1e-3)   # per example: 0.5 + 0.75
    assert not math.isclose(out, max(float(kl.mean(0).sum()), 0.4), rel_tol=1e-3)         # the total clamped: 0.9
    # the clamp is the same for any batch size: duplicating the batch changes nothing
    assert math.isclose(float(free_bits_kl(torch.cat([kl, kl]), 0.4)), out, rel_tol=1e-6)
    with pytest.raises(ValueError, match="free bits"):
        free_bits_kl(kl, -0.1)


def test_warmup_and_free_bits_together_scale_the_clamped_kl_by_beta_t():
    torch.manual_seed(0)
    m = build_model(latent_dim=3, hidden=(16,))
    x, lam = _toy(32), 0.2
    obj = ELBO(warmup_steps=4, free_bits=lam)
    torch.manual_seed(3)
    t = obj.train_terms(m, x, step=1, steps_per_epoch=10)   # beta_1 = 1/4
    torch.manual_seed(3)
    out = m(x)
    kl_nd = kl_per_dimension(out.mu, out.logvar)
    ref = bce(out.x_params, x) + 0.25 * kl_nd.mean(0).clamp(min=lam).sum()
    torch.testing.assert_close(t.loss, ref)
    torch.testing.assert_close(t.kl, kl_nd.sum(1).mean())


def test_warmup_beta_rises_linearly_from_zero_to_beta():
    assert [warmup_beta(t, 4, 2.0) for t in range(7)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert warmup_beta(0, 0, 0.7) == 0.7
    assert ELBO(warmup_epochs=2).beta_at(5, steps_per_epoch=10) == 0.25
    assert ELBO(warmup_steps=8).beta_at(2, steps_per_epoch=10, beta=4.0) == 1.0
    with pytest.raises(ValueError, match="not both"):
        ELBO(warmup_epochs=1, warmup_steps=5)
    with pytest.raises(ValueError, match="free_bits"):
        ELBO(free_bits=-0.1)


def test_fit_applies_the_warmup_beta_at_each_step(monkeypatch):
    seen = []
    real = objectives.loss_terms

    def spy(model, x, **kw):
        seen.append(kw["beta"])
        return real(model, x, **kw)

    monkeypatch.setattr(objectives, "loss_terms", spy)
    x = _toy(96)
    fit(build_model(latent_dim=2, hidden=(16,)), x, epochs=2, batch_size=32, beta=2.0,
        objective=ELBO(warmup_steps=4))
    assert seen[1:] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]  # seen[0]: fit's check on one image before training


def _run(objective, epochs=2, **kw):
    x = _toy()
    torch.manual_seed(3)
    m = build_model(latent_dim=5, hidden=(32,))
    h = fit(m, x[:192], x[192:], epochs=epochs, batch_size=64, seed=4, binarize="dynamic", objective=objective, **kw)
    d = h.to_dict()
    d.pop("seconds")
    return d, _params(m)


def test_objective_options_off_leave_history_and_weights_identical():
    base, p0 = _run(None)
    for off in (ELBO(), {"kind": "elbo"}, ELBO(warmup_epochs=0, free_bits=0.0)):
        d, p = _run(off)
        assert d == base
        assert all(torch.equal(a, b) for a, b in zip(p, p0))
    on, _ = _run(ELBO(free_bits=0.5))
    assert on["train_loss"] != base["train_loss"]


def test_history_keeps_the_true_negative_elbo_beside_the_objective():
    d, _ = _run(None)
    for k in ("train", "test"):
        for nelbo, rec, kl in zip(d[f"{k}_nelbo"], d[f"{k}_recon"], d[f"{k}_kl"]):
            assert math.isclose(nelbo, rec + kl, rel_tol=1e-6)
    # free bits: the clamped objective is never below the true negative ELBO (sum_j max(KL_j, l) >= sum_j KL_j)
    fb, _ = _run(ELBO(free_bits=2.0))
    assert all(loss > nelbo + 1.0 for loss, nelbo in zip(fb["train_loss"], fb["train_nelbo"]))
    # warm-up over both epochs: beta < 1 at every step (and KL > 0), so the objective is below the true one
    wu, _ = _run(ELBO(warmup_epochs=2))
    assert all(loss < nelbo for loss, nelbo in zip(wu["train_loss"], wu["train_nelbo"]))


def test_bad_objective_gives_clear_error():
    x = _toy(64)
    with pytest.raises(TypeError, match="objective must be None"):
        fit(build_model(latent_dim=2, hidden=(16,)), x, epochs=1, objective="free_bits")
    with pytest.raises(ValueError, match="kind 'elbo' or 'iwae'"):
        fit(build_model(latent_dim=2, hidden=(16,)), x, epochs=1, objective={"kind": "bits"})
    with pytest.raises(TypeError, match="bad fields for objective kind 'elbo'"):
        fit(build_model(latent_dim=2, hidden=(16,)), x, epochs=1, objective={"kind": "elbo", "lam": 1})
    with pytest.raises(TypeError, match="free bits needs a VAE"):
        fit(build_model(kind="ae", latent_dim=2, hidden=(16,)), x, epochs=1, objective=ELBO(free_bits=0.1))


def test_kl_per_unit_sums_to_the_elbos_kl_and_is_zero_for_a_collapsed_unit():
    from vae_teach.evaluate import kl_per_unit
    from vae_teach.train import evaluate_terms

    torch.manual_seed(0)
    m = build_model(latent_dim=4, hidden=(32,))
    with torch.no_grad():
        m.to_mu.weight[2].zero_(); m.to_mu.bias[2].zero_(); m.to_logvar.weight[2].zero_(); m.to_logvar.bias[2].zero_()
    x = _toy(100)
    kl = kl_per_unit(m, x, batch_size=30)
    assert kl.shape == (4,) and float(kl[2]) == 0.0 and float(kl[[0, 1, 3]].min()) > 0
    assert math.isclose(float(kl.sum()), evaluate_terms(m, x)[2], rel_tol=1e-5)
    with pytest.raises(TypeError, match="one-layer VAE"):
        kl_per_unit(build_model(kind="ae", latent_dim=2, hidden=(8,)), x)


def test_mutual_information_is_zero_for_a_collapsed_encoder_and_log_n_for_a_sharp_one():
    from vae_teach.evaluate import mutual_information

    torch.manual_seed(0)
    m = build_model(latent_dim=3, hidden=(16,))
    x = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # q(z|x) = N(b, exp(c)) whatever x: nothing about x in z
        for lin in (m.to_mu, m.to_logvar):
            lin.weight.zero_()
        m.to_mu.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    assert abs(mutual_information(m, x, chunk=64)) < 1e-9
    with torch.no_grad():  # distinct means, tiny variances: z identifies x, I = log N
        m.to_mu.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(2))
        m.to_logvar.bias.fill_(-20.0)
    assert math.isclose(mutual_information(m, x, chunk=64), math.log(200), rel_tol=1e-3)
    mid = mutual_information(build_model(latent_dim=3, hidden=(16,)), x)
    assert 0.0 < mid < math.log(200)
