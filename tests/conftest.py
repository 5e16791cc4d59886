"""Fixtures shared by several test modules."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_wheel(tmp_path_factory) -> Path:
    """A wheel of this project, built as `pip wheel .` would, from a copy of what the build reads
    (pyproject.toml, README.md, vae_teach/), so no build/ or egg-info is left in the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "vae_teach", src / "vae_teach", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp / "dist"), str(src)], capture_output=True, text=True, cwd=tmp)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    return next((tmp / "dist").glob("vae_teach-*.whl"))
