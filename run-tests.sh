#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, slow end-to-end tests included:
#   ./run-tests.sh [extra pytest arguments, e.g. -m "not slow", -k sheet]
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate
exec python -m pytest "$@"
