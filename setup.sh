#!/usr/bin/env bash
# Set up egoinstruct on a fresh machine, idempotently: a virtual environment in .venv with the
# pinned versions of requirements/lock.txt and requirements/aria.txt (projectaria-tools, installed
# without its optional heavy dependencies), the package installed editable, and an `ffmpeg`
# executable inside the environment.
#
# Every pinned package is first fetched (or, for source-only packages, built once) into a
# wheelhouse that outlives the checkout (EGOINSTRUCT_WHEELHOUSE, default
# ~/.cache/egoinstruct/wheels), then installed from it without the network. So a second set-up,
# in another clone or after `rm -rf .venv`, downloads and compiles nothing. A run with an
# unchanged lock file and an existing .venv does nothing at all.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
VENV=.venv
PIP_VERSION=26.3
WHEELHOUSE=${EGOINSTRUCT_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/egoinstruct/wheels}
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Packages built from source here (llama-cpp-python) must run on any x86-64 CPU, not only this one.
export CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF}

if ! command -v "$PYTHON" >/dev/null; then
    echo "setup.sh: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup.sh: creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.egoinstruct-installed"
want=$(cat requirements/lock.txt requirements/aria.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup.sh: installing the pinned environment (first time: several GB, a few minutes)"
    "$VENV/bin/python" -m pip install --quiet "pip==$PIP_VERSION"
    mkdir -p "$WHEELHOUSE"
    "$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELHOUSE" -r requirements/lock.txt
    "$VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" -r requirements/lock.txt
    # Raw Aria VRS: projectaria-tools' own requirements (jupyter, rerun-sdk, moviepy; ~1.6 GB) cap
    # pillow below the lock's; its VRS, calibration and MPS readers need only numpy.
    "$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELHOUSE" -r requirements/aria.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-index --find-links "$WHEELHOUSE" -r requirements/aria.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
else
    echo "setup.sh: environment up to date ($VENV)"
fi

# Tools such as whisperx call the `ffmpeg` executable. Use the system one when there is one,
# else link the static binary shipped by imageio-ffmpeg into the environment's bin/.
if ! command -v ffmpeg >/dev/null || [ "$(command -v ffmpeg)" = "$PWD/$VENV/bin/ffmpeg" ]; then
    ln -sf "$("$VENV/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" "$VENV/bin/ffmpeg"
fi
