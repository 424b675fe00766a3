"""Where the repository's own resources live (schemas, label sets), for code run from a checkout.

The package is installed editable from the repository (``./setup.sh``); the workflow's JSON
schemas stay in ``workflow/schemas/`` where Snakemake users expect them.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
LABELS_DIR = REPO_ROOT / "resources" / "labels"
