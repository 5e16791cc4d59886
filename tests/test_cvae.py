"""The conditional VAE (chapter 15): shapes, label handling, the conditional ELBO's terms, training through fit."""
import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_teach import build_model, fit
from vae_teach.cvae import ConditionalConfig, build_cvae
from vae_teach.evaluate import negative_elbo
from vae_teach.losses import loss_terms
from vae_teach.train import evaluate_terms


def _toy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_cvae(**kw)


def test_architecture_concatenates_the_one_hot_label_to_the_encoder_and_decoder_inputs():
    m = _model()
    sizes = [(l.in_features, l.out_features) for l in m.modules() if isinstance(l, nn.Linear)]
    assert sizes == [(784 + 10, 400), (400, 20), (400, 20), (20 + 10, 400), (400, 784)]
    x, y = _toy(8)
    o = m(x, y)
    assert o.x_params.shape == (8, 1, 28, 28) and o.z.shape == o.mu.shape == o.logvar.shape == (8, 20)
    assert m.sample(5, labels=3).shape == (5, 1, 28, 28)
    assert m.reconstruct(x, y).shape == (8, 1, 28, 28)
    assert all(t.shape == (8,) for t in m.elbo_terms(x, y, reduction="none"))
    onehot = m.one_hot(torch.tensor([0, 9, 4]))
    assert onehot.dtype == torch.float32 and onehot.tolist()[1] == [0.0] * 9 + [1.0]


def test_the_label_changes_the_encoder_and_the_decoder():
    m, (x, _) = _model(), _toy(4)
    z = torch.randn(4, 20)
    a, b = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(m.decode(z, a), m.decode(z, b))
    assert not torch.allclose(m.encode(x, a)[0], m.encode(x, b)[0])


@pytest.mark.parametrize("labels, error, message", [
    (torch.tensor([0, 1, 2, 10]), ValueError, r"labels must lie in 0\.\.9 \(10 classes\), got 10"),
    (torch.tensor([0, -1, 2, 3]), ValueError, r"labels must lie in 0\.\.9 \(10 classes\), got -1"),
    (torch.tensor([0.0, 1.0, 2.0, 3.0]), TypeError, r"labels must be integers .*got dtype torch\.float32"),
    (torch.tensor([True, False, True, True]), TypeError, r"labels must be integers .*torch\.bool"),
    (torch.tensor([1, 2, 3]), ValueError, r"got 3 labels for 4 images"),
    (torch.eye(10)[:4].long(), ValueError, r"labels must have shape \[N\].*not one-hot rows"),
    ([1, 2, 3, 4], TypeError, r"labels must be an integer torch\.Tensor .*got list"),
])
def test_bad_labels_get_an_error_naming_the_problem(labels, error, message):
    m, (x, _) = _model(), _toy(4)
    with pytest.raises(error, match=message):
        m(x, labels)
    with pytest.raises(error, match=message):
        m.decode(torch.zeros(4, 20), labels)


def test_sample_refuses_a_float_or_out_of_range_class_and_missing_labels_are_named():
    m, (x, y) = _model(), _toy(4)
    with pytest.raises(TypeError, match="got float"):
        m.sample(3, labels=3.0)
    with pytest.raises(ValueError, match=r"0\.\.9.*got 12"):
        m.sample(3, labels=12)
    with pytest.raises(ValueError, match="needs the label of every image"):
        loss_terms(m, x)
    with pytest.raises(ValueError, match="is not conditional"):
        loss_terms(build_model(latent_dim=2), x, labels=y)
    with pytest.raises(ValueError, match="labels must lie in 0..4"):
        build_cvae(n_classes=5)(x, torch.tensor([0, 1, 2, 7]))
    with pytest.raises(ValueError, match="ConditionalConfig.latent_dim"):
        ConditionalConfig(latent_dim=0)


def test_conditional_elbo_terms_are_the_stated_densities_with_the_same_noise():
    m, (x, y) = _model(), _toy(16)
    torch.manual_seed(2)
    t = m.elbo_terms(x, y, reduction="none")
    torch.manual_seed(2)
    o = m(x, y)
    rec = -Bernoulli(logits=o.x_params, validate_args=False).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(o.mu, (0.5 * o.logvar).exp()), Normal(0.0, 1.0)).sum(1)
    for got, want in ((t.recon, rec), (t.kl, kl), (t.loss, rec + kl)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-3)
    torch.manual_seed(2)
    torch.testing.assert_close(loss_terms(m, x, labels=y, beta=0.5, reduction="none").loss, rec + 0.5 * kl,
                               rtol=0, atol=1e-3)


def test_the_closed_form_kl_matches_its_monte_carlo_estimate():
    m, (x, y) = _model(), _toy(4)
    s = 4000
    with torch.no_grad():
        o = m(x.repeat(s, 1, 1, 1), y.repeat(s))
        q = Normal(o.mu, (0.5 * o.logvar).exp())
        mc = (q.log_prob(o.z) - Normal(0.0, 1.0).log_prob(o.z)).sum(1)
        cf = m.elbo_terms(x.repeat(s, 1, 1, 1), y.repeat(s), reduction="none").kl
    d = (mc - cf).view(s, -1)
    se = d.std(0) / math.sqrt(s)
    assert float((d.mean(0).abs() / se).max()) < 4.0


def test_sampling_with_label_c_decodes_prior_draws_under_that_label():
    m = _model()
    g = torch.Generator().manual_seed(5)
    got = m.sample(6, labels=7, generator=g)
    z = torch.randn(6, 20, generator=torch.Generator().manual_seed(5))
    want = torch.sigmoid(m.decode(z, torch.full((6,), 7)))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    mixed = torch.tensor([0, 1, 2, 3, 4, 5])
    got = m.sample(6, labels=mixed, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, torch.sigmoid(m.decode(z, mixed)), rtol=0, atol=1e-6)


def test_fit_trains_the_conditional_vae_with_its_labels_and_the_test_loss_falls():
    x, y = _toy(256)
    x = (x < 0.3).float() * 0.9
    m = _model()
    before = negative_elbo(m, x[:64], labels=y[:64])
    h = fit(m, x, x[:64], train_labels=y, test_labels=y[:64], epochs=4, batch_size=64, lr=2e-3)
    assert h.epochs == 4 and h.test_loss[-1] < h.test_loss[0] < before
    assert abs(h.test_loss[-1] - negative_elbo(m, x[:64], labels=y[:64])) < 1e-3
    assert evaluate_terms(m, x[:64], labels=y[:64])[0] == pytest.approx(h.test_loss[-1], abs=1e-3)


def test_fit_refuses_mismatched_or_missing_labels():
    x, y = _toy(32)
    m = _model()
    with pytest.raises(ValueError, match=r"train_labels must hold one class per image, shape \[32\]"):
        fit(m, x, x, train_labels=y[:5], test_labels=y, epochs=1)
    with pytest.raises(ValueError, match="give both train_labels and test_labels"):
        fit(m, x, x, train_labels=y, epochs=1)
    with pytest.raises(ValueError, match="train_images cannot be used.*needs the label of every image"):
        fit(m, x, epochs=1)
    with pytest.raises(ValueError, match="is not conditional"):
        fit(build_model(latent_dim=2), x, train_labels=y, epochs=1)


def test_fit_gives_each_batch_the_labels_of_its_own_images():
    """fit shuffles images and labels with one permutation: every image meets its own label."""
    x, y = _toy(96)
    x[:, 0, 0, 0] = torch.arange(96) / 96  # pixel (0, 0) names the image
    pairs = []

    class Spy(type(_model())):
        def elbo_terms(self, xb, labels=None, **kw):
            if self.training:
                pairs.append((torch.round(xb[:, 0, 0, 0] * 96).long(), labels))
            return super().elbo_terms(xb, labels, **kw)

    torch.manual_seed(0)
    fit(Spy(ConditionalConfig()), x, x, train_labels=y, test_labels=y, epochs=2, batch_size=32)
    assert len(pairs) == 2 + 2 * 3  # the check of one train and one test image before training, two epochs of 3 batches
    for idx, labels in pairs:
        assert torch.equal(labels, y[idx])
    assert not torch.equal(pairs[2][0], torch.arange(32))  # shuffled, not in order
