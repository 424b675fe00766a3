"""Shared helpers of the MLLM tests: model and stage settings from the default configuration.

The settings classes have no code defaults (config/config.yaml holds them), so a test's model is
the demo model's entry of the default config with the keys the test is about changed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from egoinstruct.settings.mllm import MllmSettings, ModelSettings
from egoinstruct.settings.workflow import default_settings

# Keys that say where a model is; cleared so that a test names only the ones its backend uses.
LOCATION_KEYS = ("model", "model_path", "gguf_package", "revision", "base_url", "api_key_env")


def model_settings(name: str = "m", **changes: Any) -> ModelSettings:
    """The default config's demo model (gemma3-270m) as ``name``, location keys cleared, with ``changes``
    (plain config values: lists become tuples as they do when the config is read)."""
    base = default_settings().mllm.models["gemma3-270m"].to_mapping()
    base.update(dict.fromkeys(LOCATION_KEYS))
    return ModelSettings.from_mapping({**base, "name": name, **changes}, f"mllm.models.{name}")


def stage_settings(**changes: Any) -> MllmSettings:
    """The default config's ``mllm`` section with ``changes`` (typed values)."""
    return dataclasses.replace(default_settings().mllm, **changes)
