"""Output shapes of every model variant, and clear errors on bad input."""
import itertools

import pytest
import torch

from vae_teach import ModelConfig, build_model
from vae_teach.models import count_parameters, reparameterize


@pytest.mark.parametrize("kind,arch,decoder", list(itertools.product(["ae", "vae"], ["mlp", "conv"],
                                                                       ["bernoulli", "gaussian", "gaussian_learned"])))
def test_output_shapes(kind, arch, decoder):
    m = build_model(kind=kind, arch=arch, decoder=decoder, latent_dim=3, hidden=(64,), dropout=0.1)
    x = torch.rand(5, 1, 28, 28)
    out = m(x)
    assert out.z.shape == (5, 3)
    if decoder == "bernoulli":
        assert out.x_params.shape == (5, 1, 28, 28)
    else:
        mean, logvar = out.x_params
        assert mean.shape == logvar.shape == (5, 1, 28, 28)
        assert 0 <= float(mean.detach().min()) and float(mean.detach().max()) <= 1
    if kind == "vae":
        assert out.mu.shape == out.logvar.shape == (5, 3)
        assert m.sample(4).shape == (4, 1, 28, 28)
    else:
        assert out.mu is None
    assert m.reconstruct(x).shape == (5, 1, 28, 28)


def test_reference_model_has_pytorch_examples_parameter_count():
    # 784-400-20 encoder (mu and logvar heads), 20-400-784 decoder, as in pytorch/examples vae/main.py
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(build_model(latent_dim=20)) == expected


def test_kaiming_init_changes_weights_and_zeroes_biases():
    torch.manual_seed(0)
    a = build_model(latent_dim=2)
    torch.manual_seed(0)
    b = build_model(latent_dim=2, init="kaiming")
    assert not torch.equal(a.to_mu.weight, b.to_mu.weight)
    assert float(b.to_mu.bias.detach().abs().sum()) == 0.0
    std = b.encoder.body[1][0].weight.std().item()
    assert abs(std - (2 / 784) ** 0.5) < 0.005


def test_reparameterize_uses_standard_deviation():
    mu = torch.zeros(200_000, 1)
    logvar = torch.full((200_000, 1), 2 * torch.log(torch.tensor(3.0)))  # sigma = 3
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(z.std().item() - 3.0) < 0.03


def test_bad_config_and_bad_input_give_clear_errors():
    with pytest.raises(ValueError, match="decoder"):
        ModelConfig(decoder="poisson")
    with pytest.raises(ValueError, match="latent_dim"):
        ModelConfig(latent_dim=0)
    m = build_model(latent_dim=2)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        m(torch.rand(5, 784))
    with pytest.raises(TypeError, match="torch.Tensor"):
        m([[0.0]])
    with pytest.raises(ValueError, match="latents of shape"):
        m.decode(torch.zeros(3, 5))
