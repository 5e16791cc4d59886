"""Tests of the perceptual loss in vae_teach.losses (chapter 9)."""
from __future__ import annotations

import pytest
import torch

from vae_teach import build_model, losses
from vae_teach.fid import MNISTClassifier


@pytest.fixture
def clf():
    torch.manual_seed(0)
    return MNISTClassifier().eval()


def test_perceptual_is_zero_for_identical_images_and_positive_otherwise(clf):
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert float(losses.perceptual(x, x, clf).detach()) == pytest.approx(0.0, abs=1e-8)
    y = (x + 0.3).clamp(0, 1)
    assert float(losses.perceptual(y, x, clf).detach()) > 0


def test_perceptual_equals_the_sum_of_squared_relu2_and_relu4_differences(clf):
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 1, 28, 28, generator=g), torch.rand(3, 1, 28, 28, generator=g)
    (a2, a4), (b2, b4) = clf.perceptual_features(a), clf.perceptual_features(b)
    expected = (a2 - b2).pow(2).flatten(1).sum(1) + (a4 - b4).pow(2).sum(1)
    got = losses.perceptual(a, b, clf, reduction="none")
    assert got.shape == (3,)
    assert torch.allclose(got, expected, rtol=1e-5)
    assert float(losses.perceptual(a, b, clf).detach()) == pytest.approx(float(expected.detach().mean()), rel=1e-5)


def test_perceptual_gradient_reaches_x_hat_but_not_the_frozen_target(clf):
    x = torch.rand(2, 1, 28, 28)
    x_hat = torch.rand(2, 1, 28, 28, requires_grad=True)
    losses.perceptual(x_hat, x, clf).backward()
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0


def test_perceptual_recon_is_lambda_times_perceptual_plus_base(clf):
    torch.manual_seed(0)
    model = build_model(latent_dim=2)
    x = torch.rand(5, 1, 28, 28)
    logits = model.decoder(torch.randn(5, 2))
    x_hat = torch.sigmoid(logits)
    perc = losses.perceptual(x_hat, x, clf, reduction="none")
    f_bce = losses.perceptual_recon(0.01, "bce", clf)
    assert torch.allclose(f_bce(x, logits, model), 0.01 * perc + losses.bce(logits, x, reduction="none"), rtol=1e-5)
    f_mse = losses.perceptual_recon(0.01, "mse", clf)
    assert torch.allclose(f_mse(x, logits, model), 0.01 * perc + losses.mse(x_hat, x, reduction="none"), rtol=1e-5)
    f_alone = losses.perceptual_recon(1.0, None, clf)
    assert torch.allclose(f_alone(x, logits, model), perc, rtol=1e-5)


def test_perceptual_recon_trains_through_fit(clf):
    from vae_teach import fit

    torch.manual_seed(0)
    model = build_model(latent_dim=2)
    x = torch.rand(64, 1, 28, 28)
    hist = fit(model, x, None, epochs=1, batch_size=32, recon=losses.perceptual_recon(0.01, "bce", clf))
    assert hist.epochs == 1 and torch.isfinite(torch.tensor(hist.train_loss)).all()


def test_perceptual_rejects_bad_arguments(clf):
    with pytest.raises(ValueError, match="shape"):
        losses.perceptual(torch.rand(2, 1, 28, 28), torch.rand(3, 1, 28, 28), clf)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        losses.perceptual(torch.rand(2, 784), torch.rand(2, 784), clf)
    with pytest.raises(ValueError, match="base"):
        losses.perceptual_recon(0.01, "l2")
    with pytest.raises(ValueError, match="lam"):
        losses.perceptual_recon(0.0, "bce")
