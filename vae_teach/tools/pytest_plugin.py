"""pytest plugin (loaded from pyproject's addopts): the environment every test and notebook kernel sees.

* ``VAE_TEACH_QUIET=1``: no progress bars, so stored notebook outputs compare exactly.
* ``VAE_TEACH_DATA``: defaults to ``../shared/data`` (this project's machines) when that exists.
* ``VAE_TEACH_OFFLINE=1``: tests never use the network (missing data give a clear error, no download).
* ``MPLBACKEND=Agg`` and one seed policy are set by the notebooks themselves.
Kernels started by nbval inherit this process's environment.
"""
from __future__ import annotations

import os
from pathlib import Path


def pytest_configure(config) -> None:
    os.environ.setdefault("VAE_TEACH_QUIET", "1")
    os.environ.setdefault("VAE_TEACH_OFFLINE", "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if "VAE_TEACH_DATA" not in os.environ:
        shared = Path(str(config.rootpath)).parent / "shared" / "data"
        if shared.is_dir():
            os.environ["VAE_TEACH_DATA"] = str(shared.resolve())
