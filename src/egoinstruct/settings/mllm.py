"""Settings of the zero-shot MLLM stage (``mllm``): windows, outputs and one entry per model.

Types and ranges are checked by the configuration's schema; checks that involve several keys or
the prompt templates run when the workflow loads the configuration
(:func:`egoinstruct.settings.workflow.check_mllm`).
"""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class ModelSettings(Settings):
    """``mllm.models.<name>`` (config/config.yaml says what each key means)."""

    name: str  # the key in the config (filled in by the builder); appears in result paths
    enabled: bool
    backend: str  # openai | llama_cpp | transformers
    model: str | None
    model_path: str | None
    gguf_package: str | None
    revision: str | None
    base_url: str | None
    api_key_env: str | None
    modalities: tuple[str, ...]
    prompt_version: str
    decoding: str
    temperature: float
    top_p: float | None
    seed: int
    max_tokens: int
    concurrency: int
    timeout_s: float
    max_retries: int
    max_requests: int | None
    max_tokens_total: int | None
    n_ctx: int
    chat_format: str | None
    system_prompt: str | None
    use_audio_in_video: bool
    device_map: str | None

    def key(self, field_name: str) -> str:
        """The config key of one of this model's settings, for messages."""
        return f"mllm.models.{self.name}.{field_name}"

    @property
    def cacheable(self) -> bool:
        """Only deterministic (greedy) requests are cached."""
        return self.temperature == 0


@dataclass(frozen=True)
class MllmSettings(Settings):
    """``mllm``: the tasks, windows and outputs of every model, and the models."""

    tasks: tuple[str, ...]
    window_s: float
    hop_s: float
    frames_per_window: int
    devices: tuple[str, ...]  # reference | a role | a device id
    audio_device: str | None
    include_previous_step: bool
    prediction_rate_hz: float
    cache_dir: str
    models: dict[str, ModelSettings]

    def enabled_models(self) -> list[str]:
        return [name for name, model in self.models.items() if model.enabled]
