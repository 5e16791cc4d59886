"""``python -m vae_teach bench --nll``: a VAE on dynamically binarized MNIST and its IWAE-5000 NLL (chapter 11).

Protocol (so the figure can be compared with the literature, see chapter 11):

* training: the 60,000 MNIST training images, *dynamically* binarized (a fresh x ~ Bernoulli(pixel)
  for every batch), Bernoulli decoder, negative ELBO with KL warm-up (beta rising from 0 to 1 over the
  first tenth of the time budget, chapter 12; the true ELBO, beta = 1, from then on), Adam with the
  learning rate decayed by cosine annealing over the time budget;
* test set: the 10,000 MNIST test images binarized *once* with ``binarize_static(seed=0)``
  (one fixed Bernoulli draw per pixel), the same binarization ``fit`` uses for its test loss;
* the figure: the IWAE bound with k importance samples, -L_k in nats per image (sum over pixels,
  mean over the 10,000 test images), an upper bound on the test NLL.
"""
from __future__ import annotations

import math
import time

import torch

from ..data import batches, binarize_static, load_mnist
from ..evaluate import iwae_nll, negative_elbo
from ..models import build_model, count_parameters
from ..losses import loss_terms
from ..precision import autocast, resolve_precision
from ..train import make_adam, save_checkpoint

DEFAULT_ARCH = dict(arch="mlp", hidden=(512, 512), latent_dim=50, decoder="bernoulli")
WARMUP = 0.1    # KL warm-up over the first tenth of the budget, as the zoo's warm-up models (10 of 100 epochs)
DRIFT = 1.25    # stop when another epoch, 25% slower than the last, would overrun: this machine's speed drifts


def kl_weight(frac: float, warmup: float = WARMUP) -> float:
    """beta_t = min(1, t / T_warmup), with t and T as fractions of the time budget (chapter 12's warm-up)."""
    return 1.0 if warmup <= 0 else min(1.0, frac / warmup)


def run_nll_benchmark(minutes: float = 20.0, k: int = 5000, root=None, *, seed: int = 0,
                      batch_size: int = 128, lr: float = 1e-3, n_test: int | None = None,
                      model_kwargs: dict | None = None, verbose: bool = True,
                      checkpoint: str = "runs/nll_bench/checkpoint.pt", precision: str = "auto") -> dict:
    """Train for at most ``minutes`` (whole epochs, stopping before the budget would be exceeded),
    then evaluate the IWAE_k NLL on the statically binarized test set.

    ``n_test`` limits the test images (for quick tries; None = all 10,000).
    Returns a dict of the figures: architecture, parameters, train minutes, epochs, test negative
    ELBO, IWAE NLL, k, test images, eval minutes.
    """
    if minutes <= 0 or k < 1:
        raise ValueError(f"need minutes > 0 and k >= 1, got {minutes}, {k}")
    x, _ = load_mnist(True, root)
    xt, _ = load_mnist(False, root)
    if n_test is not None:
        xt = xt[:n_test]
    xt_bin = binarize_static(xt, seed=0)
    cfg = {**DEFAULT_ARCH, **(model_kwargs or {})}
    torch.manual_seed(seed)
    model = build_model(**cfg)
    budget = minutes * 60.0
    prec = resolve_precision(precision)
    opt = make_adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    epochs, epoch_s, train_loss = 0, 0.0, float("nan")
    while epochs == 0 or time.perf_counter() - t0 + DRIFT * epoch_s <= budget:
        e0 = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for xb in batches(x, batch_size, generator=g):
            # cosine decay of the learning rate over the time budget, floor lr / 20
            frac = min(1.0, (time.perf_counter() - t0) / budget)
            for group in opt.param_groups:
                group["lr"] = lr / 20 + (lr - lr / 20) * 0.5 * (1 + math.cos(math.pi * frac))
            xb = torch.bernoulli(xb, generator=g)          # dynamic binarization
            with autocast(prec):                           # bf16 forward where native; fp32 loss
                loss = loss_terms(model, xb, beta=kl_weight(frac)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
            seen += xb.shape[0]
        epochs += 1
        epoch_s = time.perf_counter() - e0
        train_loss = total / seen
        if verbose:
            print(f"  epoch {epochs:3d}  train -ELBO {train_loss:.2f}  lr {opt.param_groups[0]['lr']:.2e}  "
                  f"{epoch_s:.1f} s", flush=True)
    model.eval()
    train_min = (time.perf_counter() - t0) / 60
    save_checkpoint(checkpoint, model, epochs=epochs, train_minutes=train_min)  # keep what was trained
    elbo = negative_elbo(model, xt_bin)
    e0 = time.perf_counter()
    nll = iwae_nll(model, xt_bin, k=k, batch_size=10, seed=0)
    eval_min = (time.perf_counter() - e0) / 60
    arch = f"MLP 784-{'-'.join(map(str, cfg['hidden']))}-{cfg['latent_dim']}, Bernoulli decoder"
    return {"model": arch, "parameters": count_parameters(model), "training precision": prec,
            "KL warm-up": f"beta 0 to 1 over the first {WARMUP:.0%} of the training time",
            "train minutes": round(train_min, 2),
            "epochs": epochs, "final train negative ELBO (nats/image)": round(train_loss, 2),
            "test negative ELBO (nats/image)": round(elbo, 2),
            f"IWAE NLL, k={k} (nats/image)": round(nll, 2), "k": k, "test images": int(xt.shape[0]),
            "test binarization": "binarize_static(seed=0) of the MNIST test set",
            "eval minutes": round(eval_min, 2)}
