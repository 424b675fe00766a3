"""Settings of the MLLM stage (config section ``mllm``) as typed objects, checked on creation.

The workflow validates ``config/config.yaml`` against its JSON schema first; these checks repeat
what matters for code that uses the package directly and add the cross-field rules the schema
cannot express (a completion-style prompt cannot carry images, a backend supports only some
decodings, …). Every message names the config key (``mllm.models.<name>.<key>``) and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from egoinstruct.errors import InputError

MODALITIES = ("text", "image", "audio", "video")
DECODINGS = ("grammar", "loglik", "json_schema", "json_object", "none")
TASKS = ("steps", "states")


@dataclass(frozen=True)
class ModelSettings:
    """One entry of ``mllm.models`` (see config/config.yaml for what each key means)."""

    name: str
    backend: str
    enabled: bool = True
    model: str | None = None
    model_path: str | None = None
    gguf_package: str | None = None
    revision: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    modalities: tuple[str, ...] = ("text",)
    prompt_version: str = "completion-v1"
    decoding: str = "grammar"
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    max_tokens: int = 32
    concurrency: int = 1
    timeout_s: float = 60.0
    max_retries: int = 4
    max_requests: int | None = None
    max_tokens_total: int | None = None
    n_ctx: int = 4096
    chat_format: str | None = None
    system_prompt: str | None = None
    use_audio_in_video: bool = False
    device_map: str | None = None

    @classmethod
    def from_config(cls, name: str, raw: Mapping[str, Any]) -> ModelSettings:
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InputError(
                f"mllm.models.{name}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
            )
        values = dict(raw)
        if "modalities" in values:
            values["modalities"] = tuple(values["modalities"])
        settings = cls(name=name, **values)
        settings.check()
        return settings

    def key(self, field_name: str) -> str:
        return f"mllm.models.{self.name}.{field_name}"

    def check(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or "text" not in self.modalities:
            raise InputError(
                f"{self.key('modalities')}: {list(self.modalities)} — each must be one of "
                f"{', '.join(MODALITIES)}, and 'text' is required (prompts and transcripts are text)"
            )
        if self.decoding not in DECODINGS:
            raise InputError(f"{self.key('decoding')}: {self.decoding!r} is not one of {', '.join(DECODINGS)}")
        if self.temperature < 0:
            raise InputError(f"{self.key('temperature')}: must be >= 0 (0 is greedy and cacheable)")
        for name in ("max_tokens", "concurrency", "n_ctx"):
            if getattr(self, name) < 1:
                raise InputError(f"{self.key(name)}: must be at least 1")
        if self.max_retries < 0 or self.timeout_s <= 0:
            raise InputError(f"{self.key('max_retries')}/{self.key('timeout_s')}: need max_retries >= 0, timeout_s > 0")
        for name in ("max_requests", "max_tokens_total"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{self.key(name)}: must be at least 1, or null for no limit")

    @property
    def cacheable(self) -> bool:
        """Only deterministic (greedy) requests are cached."""
        return self.temperature == 0


@dataclass(frozen=True)
class StageSettings:
    """The window and output settings of ``mllm`` (everything but ``models``)."""

    tasks: tuple[str, ...] = TASKS
    window_s: float = 8.0
    hop_s: float = 4.0
    frames_per_window: int = 4
    devices: tuple[str, ...] = ("reference",)
    audio_device: str | None = "reference"
    include_previous_step: bool = False
    prediction_rate_hz: float = 2.0
    cache_dir: str = "results/mllm/cache"
    models: dict[str, ModelSettings] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> StageSettings:
        values = dict(raw)
        models = {name: ModelSettings.from_config(name, entry) for name, entry in (values.pop("models", None) or {}).items()}
        known = {f.name for f in fields(cls)} - {"models"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"mllm: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        for name in ("tasks", "devices"):
            if name in values:
                values[name] = tuple(values[name])
        settings = cls(models=models, **values)
        bad = [t for t in settings.tasks if t not in TASKS]
        if bad:
            raise InputError(f"mllm.tasks: unknown task(s) {', '.join(bad)}; use {', '.join(TASKS)}")
        if settings.frames_per_window < 0:
            raise InputError("mllm.frames_per_window: must be >= 0")
        if settings.prediction_rate_hz <= 0:
            raise InputError("mllm.prediction_rate_hz: must be positive")
        if settings.hop_s > settings.window_s or settings.hop_s <= 0:
            raise InputError(
                f"mllm.hop_s ({settings.hop_s}) must be positive and at most mllm.window_s ({settings.window_s}), "
                "or parts of a session would fall in no window"
            )
        return settings

    def enabled_models(self) -> list[str]:
        return [name for name, model in self.models.items() if model.enabled]
