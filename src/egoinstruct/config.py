"""Load and validate the workflow configuration against ``workflow/schemas/config.schema.yaml``.

Snakemake's own ``validate`` is used in the workflow; this module gives the same check with
messages that name the offending key, for the CLI and the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from egoinstruct.errors import InputError
from egoinstruct.paths import SCHEMA_DIR


def load_schema(name: str) -> dict[str, Any]:
    """A JSON schema from ``workflow/schemas/<name>.schema.yaml``."""
    with open(SCHEMA_DIR / f"{name}.schema.yaml") as handle:
        schema: dict[str, Any] = yaml.safe_load(handle)
    return schema


def describe_validation_error(error: jsonschema.ValidationError) -> str:
    """``field.sub: message`` for a jsonschema error, with the JSON path spelled out."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"


def validate_config(config: dict[str, Any], source: str | Path = "config") -> dict[str, Any]:
    """Check ``config`` against the schema; raise :class:`InputError` listing every problem."""
    validator = jsonschema.Draft202012Validator(load_schema("config"))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  - {describe_validation_error(e)}" for e in errors)
        raise InputError(
            f"{source}: invalid configuration:\n{lines}\n"
            "Every key is documented in config/README.md and config/config.yaml."
        )
    return config


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise InputError(f"{path}: cannot read config file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc
    return validate_config(config, path)
