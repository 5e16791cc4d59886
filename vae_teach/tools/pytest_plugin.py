"""pytest plugin (loaded from pyproject's addopts): the environment every test and notebook kernel sees.

* ``VAE_TEACH_QUIET=1``: no progress bars, so stored notebook outputs compare exactly.
* ``VAE_TEACH_DATA``: defaults to ``../shared/data`` (this project's machines) when that exists.
* ``MPLBACKEND=Agg`` and one seed policy are set by the notebooks themselves.
Kernels started by nbval inherit this process's environment.
"""
from __future__ import annotations

import os
from pathlib import Path


def pytest_configure(config) -> None:
    os.environ.setdefault("VAE_TEACH_QUIET", "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if "VAE_TEACH_DATA" not in os.environ:
        shared = Path(str(config.rootpath)).parent / "shared" / "data"
        if shared.is_dir():
            os.environ["VAE_TEACH_DATA"] = str(shared.resolve())


def pytest_collection_finish(session) -> None:
    """Before any notebook runs, make sure the FID feature classifier is in the cache.

    The chapters were executed, and their outputs stored, with the classifier already cached; the
    first use on a fresh machine trains it (about half a minute). Doing that here, once, means every
    notebook kernel starts from the same state as when its outputs were stored.
    """
    if not any(str(item.fspath).endswith(".ipynb") for item in session.items):
        return
    try:
        from vae_teach import fid
        from vae_teach.data import DataNotFoundError

        fid.load_classifier("mnist")
    except DataNotFoundError:
        pass  # no data: the notebooks will report it themselves
