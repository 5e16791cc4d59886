"""Chapter 7's beta explorer: one slider over VAEs trained with different KL weights beta, with a static fallback.

Built on the tools of :mod:`vae_teach.widgets` (its ``_Tool`` base: a picture, sliders, a fixed text form for nbval)
and re-exported there: ``vae_teach.widgets.beta_explorer(models, images)``.
"""
from __future__ import annotations

from typing import Mapping

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch

from . import plots
from . import widgets as _w


class BetaExplorer(_w._Tool):
    """A slider over the trained betas: originals, reconstructions and prior samples of that model."""

    def __init__(self, models: Mapping[float, object], images: torch.Tensor, n: int = 8, seed: int = 0):
        super().__init__()
        if not isinstance(models, Mapping) or not models:
            raise TypeError("models must be a non-empty dict {beta: trained model}")
        for beta, model in models.items():
            if not isinstance(beta, (int, float)) or isinstance(beta, bool):
                raise TypeError(f"the keys of models must be the beta values (numbers), got {beta!r}")
            _w._check_model(model)
        _w._check_images(images)
        self.models = {float(b): models[b] for b in sorted(models)}
        self.images = images[:n]
        self.n, self.seed = self.images.shape[0], int(seed)
        self.text = (f"Beta explorer: a slider over beta in {{{', '.join(f'{b:g}' for b in self.models)}}} shows "
                     "each model's reconstructions and prior samples, live in a running Jupyter kernel "
                     "(locally, on Binder or on Colab); the figure above is its static preview.")
        self.sliders = {"beta": W.SelectionSlider(options=[(f"{b:g}", b) for b in self.models],
                                                  value=next(iter(self.models)), description="beta")}
        self.widget = W.VBox([self.sliders["beta"], self.output,
                              W.HTML("<small>rows: test images; their reconstructions E[x|z = mu]; "
                                     "E[x|z] for z drawn from the prior (the same z for every beta when the "
                                     "latent sizes agree)</small>")])
        self._observe_all()

    def parts(self, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstructions, prior samples) of the model trained with ``beta``, each ``[n, 1, 28, 28]``."""
        model = self.models[float(beta)]
        recon = model.reconstruct(self.images) if hasattr(model, "reconstruct") else self.images
        g = torch.Generator().manual_seed(self.seed)
        z = torch.randn(self.n, model.config.latent_dim, generator=g)
        return recon, _w._decode_mean(model, z)

    def image(self) -> torch.Tensor:
        """``[3 n, 1, 28, 28]``: the test images, their reconstructions, prior samples (current beta)."""
        recon, samples = self.parts(self.sliders["beta"].value)
        return torch.cat([self.images, recon, samples])

    def _canvas(self) -> np.ndarray:
        return plots._grid(self.image(), nrow=self.n)


def beta_static_figure(models: Mapping[float, object], images: torch.Tensor, n: int = 8, seed: int = 0):
    """For every beta: reconstructions of the same test images and samples from the prior (a figure)."""
    tool = BetaExplorer(models, images, n=n, seed=seed)
    k = len(tool.models)
    fig, axes = plt.subplots(k + 1, 2, figsize=(0.55 * 2 * tool.n + 0.8, 0.75 * (k + 1) + 0.4), squeeze=False)
    plots.show_grid(tool.images, nrow=tool.n, ax=axes[0, 0], title="test images")
    axes[0, 1].set_axis_off()
    for row, beta in enumerate(tool.models, start=1):
        recon, samples = tool.parts(beta)
        plots.show_grid(recon, nrow=tool.n, ax=axes[row, 0])
        plots.show_grid(samples, nrow=tool.n, ax=axes[row, 1])
        axes[row, 0].set_title(f"beta = {beta:g}: reconstructions", fontsize=8)
        axes[row, 1].set_title(f"beta = {beta:g}: samples from the prior", fontsize=8)
    fig.tight_layout()
    return fig


def beta_explorer(models: Mapping[float, object], images: torch.Tensor, n: int = 8, seed: int = 0, *,
                  show_fallback: bool = True) -> BetaExplorer:
    """Compare VAEs trained with different KL weights beta (chapter 7) with one slider.

    ``models`` maps each beta to its trained model; ``images`` are test images (the first ``n`` are
    used). The prior samples use the same seed for every beta. Shows the static figure of all betas
    first (what the HTML book displays), then returns the live explorer.
    """
    tool = BetaExplorer(models, images, n=n, seed=seed)
    if show_fallback:
        _w._show_static(beta_static_figure(models, images, n=n, seed=seed))
    return tool
