# Sourced by .ci/test and .ci/book: create or reuse the virtual environment .venv at the
# repository root and install requirements.txt and the package (editable) into it.
# Reinstalls only when requirements.txt or pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[env] creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
stamp="$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat .venv/.vae-teach-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "[env] installing requirements (torch pinned; a few minutes on a fresh machine)" >&2
  start=$SECONDS
  python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  python -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  python -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  python -c "import torch, torchvision, vae_teach, nbval, jupyter_book" \
    || { echo "[env] installation failed" >&2; exit 1; }
  echo "$stamp" > .venv/.vae-teach-stamp
  echo "[env] installed in $((SECONDS - start)) s" >&2
fi
# Data root: the argument of each call, else $VAE_TEACH_DATA, else ../shared/data on this
# project's machines. Tests and builds never use the network: VAE_TEACH_OFFLINE=1 turns the
# download of missing data (vae_teach/download.py) into a clear "not found" error.
export VAE_TEACH_OFFLINE=1
if [ -z "${VAE_TEACH_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export VAE_TEACH_DATA="$(cd "$ROOT/../shared/data" && pwd)"
fi
export MPLBACKEND=Agg
