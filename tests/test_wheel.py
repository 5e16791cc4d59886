"""`pip install .` gives a package that works alone: the wheel carries the zoo's weights and manifest,
and the package imports and loads a zoo model from a folder outside the checkout."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_zoo_and_works_outside_the_checkout(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves no build/ folder in the checkout
    shutil.copytree(ROOT / "vae_teach", src / "vae_teach", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("vae_teach-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "vae_teach/zoo/manifest.json" in names
    assert "vae_teach/zoo/weights/mnist_classifier.safetensors" in names
    assert not any(n.startswith(("tests/", "book/", "solutions/")) for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)  # the `vae-teach` command
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import vae_teach, vae_teach.zoo; m = vae_teach.zoo.load('mnist_classifier'); "
            "print(vae_teach.__file__)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout
    assert Path(out.strip()).is_relative_to(site), out
