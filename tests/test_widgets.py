"""vae_teach.widgets driven programmatically, as a reader's drag would: a slider move changes the picture.

Small untrained models are enough: the decoder of a freshly initialised VAE already maps different z
to different images. No data files and no network are needed.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from vae_teach import build_model  # noqa: E402
from vae_teach import widgets  # noqa: E402

PNG = b"\x89PNG"


@pytest.fixture
def vae2():
    torch.manual_seed(0)
    return build_model(latent_dim=2, hidden=(32,))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(30, 1, 28, 28, generator=g), torch.arange(30) % 10


def test_latent_explorer_slider_changes_decoded_digit(vae2):
    tool = widgets.latent_explorer(vae2, span=3.0, n=5, show_fallback=False)
    assert set(tool.sliders) == {"z1", "z2"}
    assert tool.sliders["z1"].min == -3.0 and tool.sliders["z1"].max == 3.0
    before_img, before_png, before_map = tool.image().clone(), bytes(tool.output.value), bytes(tool.map.value)
    assert before_png.startswith(PNG) and before_img.shape == (1, 28, 28)
    tool.sliders["z1"].value = 2.5
    tool.sliders["z2"].value = -2.0
    assert (tool.image() - before_img).abs().max() > 1e-3, "moving the sliders did not change E[x|z]"
    assert bytes(tool.output.value) != before_png, "the displayed digit was not updated"
    assert bytes(tool.map.value) != before_map, "the cross on the latent map did not move"
    # the picture is the decoder's mean at the sliders' z
    expected = torch.sigmoid(vae2.decode(torch.tensor([[2.5, -2.0]])))[0]
    torch.testing.assert_close(tool.image(), expected.detach())


def test_interpolation_tool_sliders_change_strip(vae2, data):
    images, labels = data
    tool = widgets.interpolation_tool(vae2, images, labels, steps=6, show_fallback=False)
    assert set(tool.sliders) == {"A", "B"}
    strip = tool.image()
    assert strip.shape == (8, 1, 28, 28)
    torch.testing.assert_close(strip[0], images[tool.sliders["A"].value])
    before_png, before_caption = bytes(tool.output.value), tool.caption.value
    tool.sliders["B"].value = 17
    after = tool.image()
    torch.testing.assert_close(after[-1], images[17])
    assert (after[1:-1] - strip[1:-1]).abs().max() > 1e-4, "changing image B did not change the path"
    assert bytes(tool.output.value) != before_png
    assert "image 17 (label 7)" in tool.caption.value and tool.caption.value != before_caption


def test_beta_explorer_slider_switches_model(data):
    images, _ = data
    torch.manual_seed(0)
    models = {4.0: build_model(latent_dim=2, hidden=(32,)), 0.5: build_model(latent_dim=2, hidden=(32,))}
    tool = widgets.beta_explorer(models, images, n=4, show_fallback=False)
    slider = tool.sliders["beta"]
    assert list(slider.options) == [("0.5", 0.5), ("4", 4.0)] and slider.value == 0.5  # sorted betas
    first, first_png = tool.image().clone(), bytes(tool.output.value)
    assert first.shape == (12, 1, 28, 28)
    torch.testing.assert_close(first[:4], images[:4])  # top row: the test images themselves
    slider.value = 4.0
    second = tool.image()
    assert (second[4:] - first[4:]).abs().max() > 1e-4, "moving the beta slider did not switch models"
    assert bytes(tool.output.value) != first_png
    torch.testing.assert_close(second[4:8], models[4.0].reconstruct(images[:4]))


def test_text_form_is_stable_and_has_no_address(vae2, data):
    """nbval compares text/plain (and text/html): it must not depend on ids or memory addresses."""
    a = widgets.latent_explorer(vae2, show_fallback=False)
    b = widgets.latent_explorer(vae2, show_fallback=False)
    bundle = a._repr_mimebundle_()
    assert bundle["text/plain"] == b._repr_mimebundle_()["text/plain"] == repr(a)
    assert "0x" not in bundle["text/plain"] and "model_id" not in bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle  # a live kernel shows the widget
    assert "Latent explorer" in bundle["text/html"]


def test_fallback_figures_are_drawn(vae2, data, monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "_show_static", lambda fig: shown.append(fig))
    images, labels = data
    widgets.latent_explorer(vae2, n=4)
    widgets.interpolation_tool(vae2, images, labels, steps=4)
    widgets.beta_explorer({1.0: vae2}, images, n=3)
    assert len(shown) == 3
    # the latent traversal grid is an image of n x n decoded digits; interpolation shows 3 strips
    assert shown[0].axes[0].images[0].get_array().shape == (4 * 29 + 1, 4 * 29 + 1)
    assert len(shown[1].axes) == 3
    for fig in shown:
        matplotlib.pyplot.close(fig)


def test_bad_inputs_give_clear_errors(vae2, data):
    images, labels = data
    with pytest.raises(ValueError, match="2-D latent"):
        widgets.latent_explorer(build_model(latent_dim=3, hidden=(8,)), show_fallback=False)
    with pytest.raises(TypeError, match="vae_teach model"):
        widgets.latent_explorer(object(), show_fallback=False)
    with pytest.raises(ValueError, match="span"):
        widgets.latent_explorer(vae2, span=0, show_fallback=False)
    with pytest.raises(ValueError, match="one label per image"):
        widgets.interpolation_tool(vae2, images, labels[:5], show_fallback=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        widgets.interpolation_tool(vae2, images * 255, labels, show_fallback=False)
    with pytest.raises(ValueError, match="shape"):
        widgets.interpolation_tool(vae2, images[:, 0], labels, show_fallback=False)
    with pytest.raises(TypeError, match="non-empty dict"):
        widgets.beta_explorer({}, images, show_fallback=False)
    with pytest.raises(TypeError, match="beta values"):
        widgets.beta_explorer({"high": vae2}, images, show_fallback=False)
