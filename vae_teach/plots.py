"""Figures used across the book: image grids, reconstructions, latent maps, interpolations, curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def _grid(images: torch.Tensor, nrow: int, pad: int = 1) -> np.ndarray:
    images = images.detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    n, _, h, w = images.shape
    ncol = nrow
    nrows = int(np.ceil(n / ncol))
    canvas = np.ones((nrows * (h + pad) + pad, ncol * (w + pad) + pad), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = \
            images[i, 0].clamp(0, 1).numpy()
    return canvas


def show_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None, figsize=None):
    """Show ``[N, 1, H, W]`` images in a grid with ``nrow`` images per row. Returns the axes."""
    canvas = _grid(images, nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or (nrow * 0.6, canvas.shape[0] / canvas.shape[1] * nrow * 0.6))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor, n: int = 10,
                         title: str | None = None, ax=None):
    """Top row: originals; bottom row: reconstructions."""
    both = torch.cat([originals[:n], reconstructions[:n]])
    return show_grid(both, nrow=n, title=title, ax=ax)


def latent_scatter(codes: torch.Tensor, labels: torch.Tensor | None = None, ax=None, title: str | None = None,
                   s: float = 2.0):
    """Scatter of latent codes coloured by label: the codes themselves in 2-D, a PCA projection above 2-D."""
    from sklearn.decomposition import PCA

    codes = codes.detach().cpu().numpy()
    xlabel, ylabel = "z1", "z2"
    if codes.shape[1] > 2:
        pca = PCA(n_components=2, random_state=0).fit(codes)
        codes = pca.transform(codes)
        ev = pca.explained_variance_ratio_
        xlabel, ylabel = f"PC1 ({ev[0]:.0%} var.)", f"PC2 ({ev[1]:.0%} var.)"
    elif codes.shape[1] == 1:
        codes = np.concatenate([codes, np.zeros_like(codes)], axis=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    sc = ax.scatter(codes[:, 0], codes[:, 1], c=None if labels is None else labels.cpu().numpy(),
                    cmap="tab10", s=s, alpha=0.7)
    if labels is not None:
        ax.legend(*sc.legend_elements(), loc="best", fontsize=7, markerscale=0.8, title="label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def interpolate(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Decode the straight line between the posterior means of two images: ``[steps, 1, 28, 28]``."""
    with torch.no_grad():
        model.eval()
        enc = model.encode(torch.stack([x_a, x_b]))
        z = enc[0] if isinstance(enc, tuple) else enc
        t = torch.linspace(0, 1, steps).unsqueeze(1)
        path = (1 - t) * z[0] + t * z[1]
        return model.mean_image(model.decode(path))


def latent_grid(model, span: float = 2.5, n: int = 15, center=(0.0, 0.0), scale: float = 1.0) -> torch.Tensor:
    """Decode an n x n grid of a 2-D latent space over [-span, span]^2 (scaled/shifted for a non-standard prior)."""
    if model.config.latent_dim != 2:
        raise ValueError(f"latent_grid needs a 2-D latent space, this model has {model.config.latent_dim}")
    lin = torch.linspace(-span, span, n)
    zy, zx = torch.meshgrid(-lin, lin, indexing="ij")  # top row = large z2
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1) * scale + torch.tensor(center)
    with torch.no_grad():
        model.eval()
        return model.mean_image(model.decode(z))


def loss_curves(history, ax=None, title: str | None = None, parts: bool = True):
    """Train and test loss per epoch; with ``parts`` also reconstruction and KL, in nats per image."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ep = np.arange(1, history.epochs + 1)
    ax.plot(ep, history.train_loss, "-", color="C0", label="train: loss")
    if history.test_loss:
        ax.plot(ep, history.test_loss, "--", color="C0", label="test: loss")
    if parts and any(history.train_kl):
        ax.plot(ep, history.train_recon, "-", color="C1", label="train: reconstruction")
        ax.plot(ep, history.train_kl, "-", color="C2", label="train: KL")
        if history.test_loss:
            ax.plot(ep, history.test_recon, "--", color="C1", label="test: reconstruction")
            ax.plot(ep, history.test_kl, "--", color="C2", label="test: KL")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image (sum over pixels, mean over images)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def recorded_curves(histories: dict, key: str = "test_nelbo", ax=None, ylim=None, title: str | None = None,
                    starts: dict | None = None):
    """One recorded curve per run, against the epoch: ``histories`` maps a label (e.g. a zoo model's name) to its
    history (a :class:`vae_teach.history.History` or its ``to_dict()``, as the zoo's manifest stores it), and ``key``
    names the series, by default the test negative ELBO in nats per image. Chapters 13 and 14 use it to set a longer
    run beside its shorter twin (``{n: zoo.entry(n)["history"] for n in names}``). ``starts`` maps a label to the
    epochs its run had behind it (a run that continued another model's training): its curve begins after them."""
    if not histories:
        raise ValueError("histories is empty: pass {label: history} for at least one run")
    unknown = set(starts or {}) - set(histories)
    if unknown:
        raise ValueError(f"starts names runs that are not in histories: {', '.join(sorted(unknown))}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.4))
    for label, h in histories.items():
        h = h if isinstance(h, dict) else h.to_dict()
        series = h.get(key)
        if not series:
            raise ValueError(f"the history of {label!r} has no recorded {key!r} (it has: "
                             f"{', '.join(k for k, v in h.items() if v)})")
        start = (starts or {}).get(label, 0)
        more = f"epochs {start + 1}-{start + len(series)}" if start else f"{len(series)} epochs"
        ax.plot(np.arange(start + 1, start + len(series) + 1), series, lw=1.2, label=f"{label} ({more})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test -ELBO, nats per image" if key == "test_nelbo" else key)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax
