"""vae_teach: the small package behind the book *Variational autoencoders from first principles*.

One module per idea, each mapping onto the chapter that teaches it:

=================  =========  ==============================================================
module             chapters   what it holds
=================  =========  ==============================================================
``data``           1, 5, 8    MNIST / Fashion-MNIST in memory, binarization, batches
``models``         1, 5, 7    AE, VAE; MLP / conv; Bernoulli / Gaussian decoders
``em``             2          EM for Gaussian mixtures
``ppca``           3          probabilistic PCA: exact log p(x) and posterior, for checking the ELBO
``gradients``      4          reparameterization vs score-function gradient estimators
``kl``             3, 6       closed-form and Monte Carlo KL for diagonal Gaussians
``losses``         3, 9       BCE, MSE, MAE, Gaussian NLL, perceptual; negative ELBO
``train``          5          ``fit``, history, divergence guard
``checkpoints``    5          save / load a model with its config and history (atomic writes)
``precision``      5          mixed precision (bf16 autocast, fp32 master weights), devices
``evaluate``       5, 7, 11   negative ELBO, IWAE bound, active units
``objectives``     12         training objectives: KL warm-up, free bits
``iwae``           13         the importance-weighted bound as a training objective
``hierarchical``   14         the two-stochastic-layer VAE (Burda et al., 2016)
``cvae``           15         the conditional VAE: p(x|z, y), q(z|x, y), the conditional ELBO
``vq``             16         the VQ-VAE: vector quantization, straight-through gradient, restarts
``code_prior``     16         an autoregressive (GRU) prior over VQ-VAE code maps
``fid``            10         Frechet distance, feature extractors
``plots``          all        grids, reconstructions, latent maps, curves
``widgets``        5, 7       ipywidgets explorers with static fallbacks
``checks``         exercises  exercise checkers
``zoo``            5, 8-10    models trained once at full budget, shipped (safetensors + manifest)
``validate``       all        input validation: clear errors at the package's boundaries
``tools``          (dev)      benchmarks, notebook execution, the pytest plugin
=================  =========  ==============================================================

Units: every loss is in nats per image (sum over pixels and latent dimensions, mean over images).
"""
from .data import load_fashion_mnist, load_mnist
from .models import ModelConfig, build_model
from .source import show_source
from .checkpoints import load_checkpoint, save_checkpoint
from .train import fit

__version__ = "0.1.0"
__all__ = ["load_mnist", "load_fashion_mnist", "ModelConfig", "build_model", "fit",
           "save_checkpoint", "load_checkpoint", "show_source"]
