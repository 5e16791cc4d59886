"""Interactive explorers (ipywidgets) with static fallbacks (chapters 5 and 7).

Three tools, each a function that

1. displays a pre-rendered matplotlib figure (the *static fallback*), so the built HTML book,
   where no kernel runs, shows something meaningful, and
2. returns a small object that displays as the live widget in a running Jupyter kernel
   (locally, on Binder or on Colab).

=========================================  =====================================================
``latent_explorer(model, span, n)``        sliders for (z1, z2) of a 2-D-latent VAE decode
                                           E[x|z] live; fallback: the latent traversal grid
``interpolation_tool(model, images, lab)``  choose two test images; decode the straight line
                                           between their posterior means; fallback: 3 strips
``beta_explorer(models, images)``           a slider over the trained beta values: the
                                           reconstructions and prior samples of each model;
                                           fallback: all betas in one figure
=========================================  =====================================================

The returned objects expose their pure logic, so tests (and curious readers) can drive them
without a browser: ``tool.sliders`` (name -> ipywidgets slider), ``tool.output`` (the
``ipywidgets.Image`` showing the current picture) and ``tool.image()`` (the current picture as a
tensor in [0, 1]). Setting ``tool.sliders["z1"].value = 1.5`` updates ``tool.output`` exactly as a
reader's drag would. Their ``text/plain`` form is a fixed sentence (no memory addresses, no model
ids), so stored notebook outputs compare exactly under ``pytest --nbval``.
"""
from __future__ import annotations

import html
import io
import textwrap
from typing import Mapping

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch

from . import plots

__all__ = ["latent_explorer", "interpolation_tool", "beta_explorer",
           "LatentExplorer", "InterpolationTool", "BetaExplorer"]

_SCALE = 4  # each 28 x 28 digit is shown at 112 x 112 pixels in the live widgets


def _enable_colab_widgets() -> None:
    """On Google Colab, switch on its manager for ipywidgets 8 (elsewhere: nothing to do)."""
    try:
        from google.colab import output  # importable only on Colab
    except ImportError:
        return
    output.enable_custom_widget_manager()


_enable_colab_widgets()


# ----------------------------------------------------------------------------------- helpers
def _check_model(model, latent_dim: int | None = None) -> None:
    for attr in ("encode", "decode", "mean_image", "config"):
        if not hasattr(model, attr):
            raise TypeError(f"expected a vae_teach model (from build_model), got {type(model).__name__} "
                            f"without .{attr}")
    if latent_dim is not None and model.config.latent_dim != latent_dim:
        raise ValueError(f"this widget needs a model with a {latent_dim}-D latent space "
                         f"(build_model(latent_dim={latent_dim})), got latent_dim={model.config.latent_dim}")


def _check_images(images, name: str = "images") -> None:
    if not torch.is_tensor(images):
        raise TypeError(f"{name} must be a torch.Tensor [N, 1, 28, 28], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError(f"{name} must have shape [N, C, H, W] with N >= 1, got {tuple(images.shape)}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"{name} must hold pixel values in [0, 1], got range "
                         f"[{float(images.min()):.3g}, {float(images.max()):.3g}]")


def _png(canvas: np.ndarray, scale: int = _SCALE, rgb: bool = False) -> bytes:
    """Encode a [H, W] (or [H, W, 3]) array in [0, 1] as PNG bytes, dark ink on white, upscaled."""
    from PIL import Image

    arr = np.clip(canvas, 0.0, 1.0)
    if not rgb:
        arr = 1.0 - arr  # ink is dark, as in the book's figures (cmap gray_r)
    img = Image.fromarray(np.round(arr * 255).astype(np.uint8), mode="RGB" if rgb else "L")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="png")
    return buf.getvalue()


def _quantize(canvas: np.ndarray, levels: int = 16) -> np.ndarray:
    """Round grey values to ``levels`` steps: invisible on digits, and PNGs (stored in every notebook
    and page) compress 3-4 times better."""
    return np.round(np.clip(canvas, 0.0, 1.0) * (levels - 1)) / (levels - 1)


def _show_static(fig) -> None:
    """Display a figure once as the static fallback (an image in the stored output) and close it."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


@torch.no_grad()
def _decode_mean(model, z: torch.Tensor) -> torch.Tensor:
    was = model.training
    model.eval()
    out = model.mean_image(model.decode(z))
    model.train(was)
    return out


class _Tool:
    """Common part: a widget tree, named sliders, one image output, a fixed text/plain form."""

    text = ""

    def __init__(self) -> None:
        self.sliders: dict[str, W.Widget] = {}
        self.output = W.Image(format="png")
        self.widget: W.Box = W.VBox()

    def image(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _canvas(self) -> np.ndarray:
        img = self.image()
        return plots._grid(img, nrow=img.shape[0]) if img.dim() == 4 else img[0].numpy()

    def _refresh(self, _change=None) -> None:
        self.output.value = _png(self._canvas())

    def _observe_all(self) -> None:
        for s in self.sliders.values():
            s.observe(self._refresh, names="value")
        self._refresh()

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {}
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/plain"] = repr(self)
        # The static HTML book shows this note under the fallback figure (no kernel, no widget).
        bundle["text/html"] = ('<p class="vae-teach-widget-note" style="border-left: 3px solid #4c8bf5; '
                               f'padding-left: 0.6em;"><em>{html.escape(self.text)}</em></p>')
        return bundle

    def __repr__(self) -> str:
        return textwrap.fill(self.text, width=88)


# ----------------------------------------------------------------------------- latent explorer
class LatentExplorer(_Tool):
    """Sliders z1, z2 -> E[x|z] of a 2-D-latent model, beside the latent map with a cross at z."""

    def __init__(self, model, span: float = 3.0, n: int = 15, step: float = 0.1):
        super().__init__()
        _check_model(model, latent_dim=2)
        if not span > 0:
            raise ValueError(f"span must be > 0, got {span}")
        if n < 2:
            raise ValueError(f"n must be >= 2 (the grid has n x n cells), got {n}")
        self.model, self.span, self.n = model, float(span), int(n)
        self.text = (f"Latent explorer: sliders z1, z2 in [-{self.span:g}, {self.span:g}] decode a digit "
                     "live in a running Jupyter kernel (locally, on Binder or on Colab); the figure above "
                     "is its static preview.")
        self.sliders = {name: W.FloatSlider(value=0.0, min=-self.span, max=self.span, step=step,
                                            description=name, continuous_update=True, readout_format=".1f")
                        for name in ("z1", "z2")}
        self.grid = _quantize(plots._grid(plots.latent_grid(model, span=self.span, n=self.n), nrow=self.n))
        self.map = W.Image(format="png")
        self.widget = W.VBox([W.HBox(list(self.sliders.values())), W.HBox([self.map, self.output]),
                              W.HTML("<small>left: decoded grid over the latent square, the red cross "
                                     "marks z; right: E[x|z] at z = (z1, z2)</small>")])
        self._observe_all()

    def z(self) -> torch.Tensor:
        """The current latent point ``[1, 2]``."""
        return torch.tensor([[self.sliders["z1"].value, self.sliders["z2"].value]], dtype=torch.float32)

    def image(self) -> torch.Tensor:
        """E[x|z] at the sliders' z: ``[1, 28, 28]`` in [0, 1]."""
        return _decode_mean(self.model, self.z())[0]

    def _map_rgb(self) -> np.ndarray:
        """The latent grid in RGB (ink dark) with a red cross at the current z."""
        g = 1.0 - self.grid
        rgb = np.stack([g, g, g], axis=-1)
        h, w = g.shape
        z1, z2 = (float(v) for v in self.z()[0])
        col = int(round((z1 + self.span) / (2 * self.span) * (w - 1)))
        row = int(round((self.span - z2) / (2 * self.span) * (h - 1)))  # top row = large z2
        for dr in range(-4, 5):
            for dc in (-1, 0, 1):
                for r, c in ((row + dr, col + dc), (row + dc, col + dr)):
                    if 0 <= r < h and 0 <= c < w:
                        rgb[r, c] = (0.85, 0.1, 0.1)
        return rgb

    def _refresh(self, _change=None) -> None:
        self.output.value = _png(self.image()[0].numpy())
        self.map.value = _png(self._map_rgb(), scale=max(1, 420 // self.grid.shape[1]), rgb=True)


def latent_static_figure(model, span: float = 3.0, n: int = 15):
    """The latent traversal grid: E[x|z] for z on an n x n grid over [-span, span]^2 (a figure)."""
    grid = _quantize(plots._grid(plots.latent_grid(model, span=span, n=n), nrow=n))
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest",
              extent=(-span, span, -span, span))
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(f"E[x|z] on a {n} x {n} grid of z in [-{span:g}, {span:g}]$^2$", fontsize=10)
    fig.tight_layout()
    return fig


def latent_explorer(model, span: float = 3.0, n: int = 15, *, show_fallback: bool = True) -> LatentExplorer:
    """Explore the 2-D latent space of a VAE (chapter 5): two sliders pick z, the decoder draws E[x|z].

    Shows the static latent traversal grid first (what the HTML book displays), then returns the
    live explorer. ``model`` must have ``latent_dim=2``; ``span`` bounds the sliders (and the grid)
    to [-span, span], ``n`` is the grid size of the map.
    """
    tool = LatentExplorer(model, span=span, n=n)
    if show_fallback:
        _show_static(latent_static_figure(model, span=span, n=n))
    return tool


# ------------------------------------------------------------------------------- interpolation
class InterpolationTool(_Tool):
    """Two index sliders choose images A and B; the strip decodes the line between their codes."""

    def __init__(self, model, images: torch.Tensor, labels: torch.Tensor, steps: int = 10):
        super().__init__()
        _check_model(model)
        _check_images(images)
        if not torch.is_tensor(labels) or labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels must be a 1-D tensor with one label per image ({images.shape[0]}), "
                             f"got {tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__}")
        if images.shape[0] < 2:
            raise ValueError("interpolation needs at least 2 images")
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        self.model, self.images, self.labels, self.steps = model, images, labels, int(steps)
        self.text = ("Interpolation tool: choose images A and B with the sliders to decode the straight line "
                     "between their posterior means, live in a running Jupyter kernel (locally, on Binder "
                     "or on Colab); the figure above is its static preview.")
        a, b = _default_pair(labels)
        last = images.shape[0] - 1
        self.sliders = {"A": W.IntSlider(value=a, min=0, max=last, description="image A"),
                        "B": W.IntSlider(value=b, min=0, max=last, description="image B")}
        self.caption = W.HTML()
        self.widget = W.VBox([W.HBox(list(self.sliders.values())), self.caption, self.output])
        self._observe_all()

    def image(self) -> torch.Tensor:
        """The strip ``[steps + 2, 1, 28, 28]``: image A, the decoded path A -> B, image B."""
        a, b = self.sliders["A"].value, self.sliders["B"].value
        path = plots.interpolate(self.model, self.images[a], self.images[b], steps=self.steps)
        return torch.cat([self.images[a: a + 1], path, self.images[b: b + 1]])

    def _refresh(self, _change=None) -> None:
        a, b = self.sliders["A"].value, self.sliders["B"].value
        self.caption.value = (f"<small>A = image {a} (label {int(self.labels[a])}), B = image {b} "
                              f"(label {int(self.labels[b])}); first and last: the inputs, between: "
                              f"E[x|z] along the line of codes</small>")
        super()._refresh()


def _default_pair(labels: torch.Tensor) -> tuple[int, int]:
    """Image 0 and the first image with another label (or image 1 if all labels agree)."""
    other = (labels != labels[0]).nonzero()
    return 0, int(other[0, 0]) if len(other) else 1


def _static_pairs(labels: torch.Tensor, k: int = 3) -> list[tuple[int, int]]:
    """Up to k pairs of images of different labels: first occurrences of labels, taken two by two."""
    firsts: list[int] = []
    seen: set[int] = set()
    for i, y in enumerate(labels.tolist()):
        if y not in seen:
            seen.add(y)
            firsts.append(i)
        if len(firsts) == 2 * k:
            break
    pairs = [(firsts[i], firsts[i + 1]) for i in range(0, len(firsts) - 1, 2)]
    return pairs or [_default_pair(labels)]


def interpolation_static_figure(model, images: torch.Tensor, labels: torch.Tensor, steps: int = 10):
    """Interpolation strips between a few pairs of images with different labels (a figure)."""
    pairs = _static_pairs(labels)
    fig, axes = plt.subplots(len(pairs), 1, figsize=(0.62 * (steps + 2), 0.85 * len(pairs) + 0.3), squeeze=False)
    for ax, (a, b) in zip(axes[:, 0], pairs):
        path = plots.interpolate(model, images[a], images[b], steps=steps)
        plots.show_grid(torch.cat([images[a: a + 1], path, images[b: b + 1]]), nrow=steps + 2, ax=ax)
        ax.set_title(f"image {a} (label {int(labels[a])}) to image {b} (label {int(labels[b])})", fontsize=8)
    fig.tight_layout()
    return fig


def interpolation_tool(model, images: torch.Tensor, labels: torch.Tensor, steps: int = 10, *,
                       show_fallback: bool = True) -> InterpolationTool:
    """Interpolate between two chosen images in latent space (chapters 5 and 7).

    Encodes images A and B to their posterior means, decodes ``steps`` points on the straight line
    between them and shows A, the path and B as a strip. Shows a static figure of three such strips
    first (what the HTML book displays), then returns the live tool.
    """
    tool = InterpolationTool(model, images, labels, steps=steps)
    if show_fallback:
        _show_static(interpolation_static_figure(model, images, labels, steps=steps))
    return tool


# Chapter 7's tool lives in its own module; re-exported here, where the chapters call it (widgets.beta_explorer).
from .beta_explorer import BetaExplorer, beta_explorer, beta_static_figure  # noqa: E402,F401
