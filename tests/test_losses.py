"""Loss reductions and units: sum over pixels, mean over images (nats per image)."""
import math

import pytest
import torch
import torch.nn.functional as F

from vae_teach import build_model
from vae_teach.losses import bce, gaussian_nll, loss_terms, mae, mse, negative_elbo, reconstruction


def _pair(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randn(n, 1, 28, 28, generator=g)


def test_bce_is_sum_over_pixels_mean_over_images():
    x, logits = _pair()
    per_image = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
    torch.testing.assert_close(bce(logits, x, reduction="none"), per_image)
    torch.testing.assert_close(bce(logits, x), per_image.mean())
    # the total over a batch divided by the batch size, as pytorch/examples reports it
    torch.testing.assert_close(bce(logits, x), F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5)


def test_mse_and_mae_are_sums_over_pixels():
    x, y = _pair()
    torch.testing.assert_close(mse(y, x), ((y - x) ** 2).sum() / 5)
    torch.testing.assert_close(mae(y, x), (y - x).abs().sum() / 5)


def test_gaussian_nll_matches_torch_normal_log_prob():
    x, mean = _pair()
    logvar = torch.randn_like(x) * 0.3
    ref = -torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(gaussian_nll(x, mean, logvar, reduction="none"), ref, rtol=1e-5, atol=1e-3)


def test_mse_is_gaussian_nll_with_variance_half_minus_constant():
    x, mean = _pair()
    const = 0.5 * 784 * math.log(2 * math.pi * 0.5)
    torch.testing.assert_close(gaussian_nll(x, mean, math.log(0.5)), mse(mean, x) + const, rtol=1e-6, atol=1e-3)


def test_bce_rejects_targets_outside_unit_interval_and_shape_mismatch():
    x, logits = _pair()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bce(logits, x * 255)
    with pytest.raises(ValueError, match="shape"):
        bce(logits[:, :, :27], x)
    with pytest.raises(ValueError, match="reduction"):
        mse(x, x, reduction="summ")
    torch.testing.assert_close(mse(x * 0.5, x, reduction="sum"), mse(x * 0.5, x) * x.shape[0])


def test_negative_elbo_weights_kl_by_beta():
    g = torch.Generator().manual_seed(1)
    rec = torch.rand(4, generator=g) * 100
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    t1 = negative_elbo(None, rec, mu, logvar, beta=1.0)
    t4 = negative_elbo(None, rec, mu, logvar, beta=4.0)
    torch.testing.assert_close(t4.loss - t1.loss, 3 * t1.kl)
    torch.testing.assert_close(t1.loss, t1.recon + t1.kl)


def test_loss_terms_for_ae_has_no_kl_and_for_vae_has_kl():
    x, _ = _pair()
    ae = build_model(kind="ae", latent_dim=2)
    vae = build_model(kind="vae", latent_dim=2)
    assert float(loss_terms(ae, x, recon="mse").kl) == 0.0
    assert float(loss_terms(vae, x).kl.detach()) > 0.0


def test_reconstruction_refuses_bce_on_gaussian_decoder():
    x, _ = _pair()
    m = build_model(decoder="gaussian_learned", latent_dim=2)
    out = m(x)
    with pytest.raises(ValueError, match="Bernoulli"):
        reconstruction(m, x, out.x_params, "bce")
    assert reconstruction(m, x, out.x_params, "auto").shape == ()


def test_bce_matches_torch_values_and_gradients_including_extreme_logits():
    torch.manual_seed(3)
    logits = torch.cat([torch.randn(4, 1, 28, 28) * 5, torch.full((1, 1, 28, 28), 90.0),
                        torch.full((1, 1, 28, 28), -90.0)]).requires_grad_()
    x = torch.rand(6, 1, 28, 28)
    x[4:] = torch.bernoulli(x[4:])
    x.requires_grad_()
    ours = bce(logits, x, reduction="none")
    ref = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-4)
    g = torch.randn(6)
    ga = torch.autograd.grad((ours * g).sum(), (logits, x))
    gb = torch.autograd.grad((ref * g).sum(), (logits, x))
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
