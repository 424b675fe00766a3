"""MLLM backends: registry, declared modalities and decodings, request building for servers
(validated against the openai package's own request types), missing weights, settings checks."""

from __future__ import annotations

import base64
import io
import wave

import cv2
import numpy as np
import pytest

from egoinstruct.config import read_config_file, validate_config
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.labels import load_labels
from egoinstruct.mllm.backends import (
    BackendRequestError,
    backend_class,
    backend_names,
    create_backend,
)
from egoinstruct.mllm.backends.openai_server import chat_messages, validate_messages
from egoinstruct.mllm.stage import build_request, check_model, inputs_dropped
from egoinstruct.mllm.windows import Utterance, Window, WindowFrame, wav_bytes
from egoinstruct.paths import LABELS_DIR, REPO_ROOT
from egoinstruct.settings.mllm import ModelSettings
from egoinstruct.settings.workflow import default_settings, load_settings

from mllm_utils import model_settings, stage_settings

STATES = load_labels(LABELS_DIR, "states")


def settings(**raw) -> ModelSettings:
    base = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "modalities": ["text"],
            "prompt_version": "chat-v1", "decoding": "json_schema"}
    return model_settings("m", **{**base, **raw})


def default_config() -> dict:
    return read_config_file(REPO_ROOT / "config" / "config.yaml")


def media_window() -> Window:
    image = np.zeros((24, 32, 3), np.uint8)
    image[:, :16] = (0, 0, 255)
    jpegs = [cv2.imencode(".jpg", np.roll(image, i, axis=1))[1].tobytes() for i in range(2)]
    audio = wav_bytes(np.sin(np.linspace(0, 100, 16000 * 8)).astype(np.float32) * 0.1, 16000)
    return Window("s01", 0, 0.0, 8.0, frames=tuple(WindowFrame("instructor_aria", 1.0 + 4 * i, j) for i, j in enumerate(jpegs)),
                  audio_wav=audio, audio_rate_hz=16000,
                  utterances=(Utterance(1.0, 2.0, "SPEAKER_00", "instructor", "Take the plate."),))


def test_backends_are_registered_by_name():
    assert backend_names() == ["llama_cpp", "openai", "transformers"]
    for name in backend_names():
        assert backend_class(name).name == name
    with pytest.raises(InputError, match="unknown MLLM backend 'vllm'.*llama_cpp, openai, transformers"):
        backend_class("vllm")


def test_each_backend_declares_what_it_can_take():
    assert backend_class("llama_cpp").supported_modalities == {"text"}
    assert {"image", "audio"} <= backend_class("openai").supported_modalities
    assert {"image", "audio"} <= backend_class("transformers").supported_modalities
    with pytest.raises(InputError, match=r"llama_cpp backend cannot pass image.*remove them"):
        create_backend(settings(backend="llama_cpp", gguf_package="x", modalities=["text", "image"], decoding="grammar"))
    with pytest.raises(InputError, match=r"decoding: 'loglik' is not supported by the openai backend"):
        create_backend(settings(decoding="loglik"))


def test_multimodal_request_matches_the_openai_chat_schema():
    model = settings(modalities=["text", "image", "audio"])
    request, used = build_request("states", media_window(), STATES, model, None, "block_assembly")
    assert used == ("transcript", "image", "audio")
    kwargs = create_backend(model).request_kwargs(request)  # validates against openai's types
    messages = kwargs["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    parts = messages[1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "text", "input_audio", "text"]
    image_url = parts[1]["image_url"]["url"]
    assert image_url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(image_url.split(",", 1)[1]) == media_window().frames[0].jpeg
    audio = parts[4]["input_audio"]
    assert audio["format"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(audio["data"]))) as handle:
        assert handle.getframerate() == 16000 and handle.getnframes() == 16000 * 8
    assert kwargs["response_format"]["type"] == "json_schema"
    assert kwargs["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == list(STATES.labels)
    assert kwargs["temperature"] == 0 and kwargs["model"] == "m"


@pytest.mark.parametrize("broken", [
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "flac"}},
    {"type": "image_url", "image_url": "data:image/jpeg;base64,AAAA"},
    {"type": "text", "text": 5},
    {"type": "video_url", "video_url": {}},
])
def test_schema_validation_rejects_malformed_parts(broken):
    with pytest.raises(BackendRequestError):
        validate_messages([{"role": "user", "content": [{"type": "text", "text": "hi"}, broken]}])


def test_video_parts_are_the_vllm_extension():
    validate_messages([{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}]}])


def test_text_only_turn_is_one_string_and_modalities_are_respected():
    model = settings(modalities=["text"])
    request, used = build_request("states", media_window(), STATES, model, None)
    assert used == ("transcript",) and all(p.kind == "text" for p in request.parts)
    messages = chat_messages(request)
    assert isinstance(messages[1]["content"], str)
    validate_messages(messages)


def test_system_prompt_override_moves_ours_into_the_user_turn():
    qwen = "You are Qwen, a virtual human."
    request, _ = build_request("states", media_window(), STATES, settings(system_prompt=qwen), None)
    assert request.system == qwen and request.parts[0].text.startswith("You label short windows")
    no_system, _ = build_request("states", media_window(), STATES, settings(system_prompt=""), None)
    assert no_system.system is None and no_system.parts[0].text.startswith("You label short windows")


def test_text_only_models_are_transcript_only_runs():
    stage = stage_settings()
    assert inputs_dropped(stage, settings(modalities=["text"])) == ["image", "audio"]
    assert inputs_dropped(stage, settings(modalities=["text", "image", "audio"])) == []
    assert inputs_dropped(stage, settings(modalities=["text", "image"])) == ["audio"]
    with pytest.raises(InputError, match=r"completion-v1 is a completion-style \(text-only\) prompt"):
        check_model(settings(modalities=["text", "image"], prompt_version="completion-v1"))


def test_transformers_backend_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    missing = create_backend(settings(backend="transformers", model_path=str(tmp_path / "Qwen2.5-Omni-7B"),
                                      decoding="none", modalities=["text", "image", "audio"]))
    with pytest.raises(MissingModelError, match=r"no model at .*Qwen2.5-Omni-7B.*huggingface-cli download"):
        missing.preflight()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    by_id = create_backend(settings(backend="transformers", model="Qwen/Qwen2.5-Omni-7B", decoding="none"))
    with pytest.raises(MissingModelError, match=r"not in the local Hugging Face cache.*model_path"):
        by_id.preflight()
    gguf = create_backend(settings(backend="transformers", model_path=str(tmp_path / "x.gguf"), decoding="none"))
    with pytest.raises(MissingModelError, match="GGUF file .*x.gguf not found"):
        gguf.preflight()


def test_llama_cpp_backend_names_missing_weights(tmp_path):
    backend = create_backend(settings(backend="llama_cpp", model_path=str(tmp_path / "m.gguf"), decoding="grammar",
                                      prompt_version="completion-v1"))
    with pytest.raises(MissingModelError, match=r"model_path: GGUF file .*m.gguf not found"):
        backend.preflight()
    with pytest.raises(MissingModelError, match="pip install no-such-gguf-package"):
        create_backend(settings(backend="llama_cpp", gguf_package="no-such-gguf-package", decoding="grammar")).preflight()


@pytest.mark.parametrize("raw,message", [
    ({"temperature": -1}, r"mllm\.models\.qwen2\.5-omni-vllm\.temperature"),
    ({"modalities": ["image"]}, r"mllm\.models\.qwen2\.5-omni-vllm\.modalities: \['image'\] must include 'text'"),
    ({"decoding": "beam"}, r"mllm\.models\.qwen2\.5-omni-vllm\.decoding: 'beam' is not allowed"),
    ({"max_requests": 0}, r"mllm\.models\.qwen2\.5-omni-vllm\.max_requests"),
    ({"api_key": "sk-123"}, r"mllm\.models\.qwen2\.5-omni-vllm\.api_key: unknown key"),
])
def test_settings_errors_name_the_key(raw, message):
    # Types and ranges of a model entry are the config schema's: checked when the config is loaded.
    config = default_config()
    config["mllm"]["models"]["qwen2.5-omni-vllm"].update(raw)
    with pytest.raises(InputError, match=message):
        load_settings(config, "x.yaml")
    # the builder of the typed settings refuses unknown keys itself, too
    if "api_key" in raw:
        with pytest.raises(InputError, match="unknown key"):
            settings(**raw)


def test_openai_backend_needs_url_and_model():
    with pytest.raises(InputError, match="base_url: required"):
        create_backend(settings(base_url=None))
    with pytest.raises(InputError, match="model: required"):
        create_backend(settings(model=None))


def test_stage_settings_checks():
    assert default_settings().mllm.hop_s == 4.0
    config = default_config()
    config["mllm"].update(window_s=4, hop_s=8)
    with pytest.raises(InputError, match=r"x\.yaml: config mllm\.hop_s \(8\) must be at most mllm\.window_s"):
        load_settings(config, "x.yaml")
    config = default_config()
    config["mllm"]["tasks"] = ["gaze"]
    with pytest.raises(InputError, match=r"config mllm\.tasks: unknown task 'gaze'"):
        load_settings(config, "x.yaml")


def test_video_models_get_each_cameras_frames_as_an_mp4():
    import av

    model = settings(modalities=["text", "video", "audio"])
    request, used = build_request("states", media_window(), STATES, model, None)
    assert used == ("transcript", "video", "audio")
    videos = [p for p in request.parts if p.kind == "video"]
    assert len(videos) == 1 and videos[0].mime == "video/mp4"
    with av.open(io.BytesIO(videos[0].data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2
    kwargs = create_backend(model).request_kwargs(request)
    parts = kwargs["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["text", "video_url", "text", "input_audio", "text"]
    assert parts[1]["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert inputs_dropped(stage_settings(), model) == []


def test_config_section_validates_and_keys_cannot_be_put_in_it():
    import copy

    config = default_config()
    stage = load_settings(config, "config.yaml").mllm
    assert stage.enabled_models() == ["gemma3-270m"]
    demo = stage.models["gemma3-270m"]
    assert (demo.backend, demo.decoding, demo.prompt_version, demo.temperature) == ("llama_cpp", "grammar", "completion-v1", 0)
    bad = copy.deepcopy(config)
    bad["mllm"]["models"]["qwen2.5-omni-vllm"]["api_key"] = "sk-123"
    with pytest.raises(InputError, match=r"qwen2\.5-omni-vllm\.api_key: unknown key; did you mean 'api_key_env'"):
        validate_config(bad)
    bad = copy.deepcopy(config)
    bad["mllm"]["models"]["qwen2.5-omni-vllm"]["api_key_env"] = "sk-123 not a name"
    with pytest.raises(InputError, match="api_key_env"):
        validate_config(bad)
