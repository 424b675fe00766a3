#!/usr/bin/env bash
# Set up (idempotent) and run the workflow's main job on the bundled demo sessions:
#   ./run-demo.sh [extra snakemake arguments, e.g. -n, --report results/report.html]
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate
exec snakemake --cores 8 "$@"
