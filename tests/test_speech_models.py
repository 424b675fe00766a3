"""Speech models offline: missing directories and hub-only models give messages that say what is
missing and how to provide it; ``auto`` falls back with one logged line, the strict switches stop."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from egoinstruct import hub
from egoinstruct.errors import MissingModelError
from egoinstruct.settings.workflow import default_settings
from egoinstruct.speech import models
from egoinstruct.speech.diarize import Diarizer


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and empty caches, whatever this machine has."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub._connect_reason.cache_clear()
    return tmp_path / "hf-cache"


def test_default_model_is_the_packaged_tiny_en():
    source = models.resolve_asr_model(models.DEFAULT_ASR_MODEL)
    assert source.origin == "package"
    assert (Path(source.location) / "model.bin").is_file()


def test_missing_model_directory_says_what_and_how(tmp_path):
    missing = tmp_path / "models" / "whisper-small"
    with pytest.raises(MissingModelError) as err:
        models.resolve_asr_model(str(missing))
    message = str(err.value)
    assert "speech.asr.model" in message and str(missing) in message and "does not exist" in message
    assert "CTranslate2" in message and models.DEFAULT_ASR_MODEL in message


def test_directory_that_is_not_a_ctranslate2_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MissingModelError, match=r"missing model\.bin.*ct2-transformers-converter"):
        models.resolve_asr_model(str(tmp_path))


def test_hub_only_asr_model_offline_says_how_to_download_it(offline):
    with pytest.raises(MissingModelError) as err:
        models.resolve_asr_model("small.en", cache_dir=str(offline))
    message = str(err.value)
    assert "Systran/faster-whisper-small.en" in message
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE is set" in message
    assert "huggingface-cli download Systran/faster-whisper-small.en" in message
    assert "speech.asr.model: models/faster-whisper-small.en" in message


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(MissingModelError, match=r"neither a directory.*tiny\.en"):
        models.resolve_asr_model("whisper-gigantic")


def test_alignment_model_offline_names_file_and_url(offline):
    with pytest.raises(MissingModelError) as err:
        models.resolve_align_model("en")
    message = str(err.value)
    assert "WAV2VEC2_ASR_BASE_960H" in message and "not in the torch hub cache" in message
    assert "https://download.pytorch.org/torchaudio/models/wav2vec2_fairseq_base_ls960_asr_ls960.pth" in message
    assert str(Path(offline).parent / "torch" / "hub" / "checkpoints") in message


def test_japanese_alignment_model_offline(offline):
    with pytest.raises(MissingModelError, match=r"jonatasgrosman/wav2vec2-large-xlsr-53-japanese.*huggingface-cli download"):
        models.resolve_align_model("ja", cache_dir=str(offline))


def test_language_without_default_alignment_model():
    with pytest.raises(MissingModelError, match=r"no default wav2vec2 alignment model for language 'xx'.*align: off"):
        models.resolve_align_model("xx")


def test_cached_alignment_model_is_used_without_network(offline, monkeypatch):
    checkpoints = Path(offline).parent / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "wav2vec2_fairseq_base_ls960_asr_ls960.pth").write_bytes(b"")
    source = models.resolve_align_model("en")
    assert source.origin == "cache" and source.location == "WAV2VEC2_ASR_BASE_960H"


def test_pyannote_offline_says_how_to_provide_it(offline):
    with pytest.raises(MissingModelError) as err:
        models.resolve_diarization_model(models.DEFAULT_PYANNOTE_MODEL, "MY_HF_TOKEN", str(offline))
    message = str(err.value)
    assert "pyannote/speaker-diarization-community-1" in message and "cannot be downloaded now" in message
    assert "$MY_HF_TOKEN" in message and "speech.pyannote_model" in message


def test_pyannote_reachable_but_no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    monkeypatch.setattr(models, "offline_reason", lambda *a, **k: None)
    with pytest.raises(MissingModelError, match=r"gated.*no token in \$NO_SUCH_TOKEN"):
        models.resolve_diarization_model(models.DEFAULT_PYANNOTE_MODEL, "NO_SUCH_TOKEN", str(tmp_path))


def test_local_pyannote_folder_without_config(tmp_path):
    with pytest.raises(MissingModelError, match="has no config.yaml"):
        models.resolve_diarization_model(str(tmp_path))


def test_unreachable_host_is_reported_quickly():
    hub._connect_reason.cache_clear()
    reason = models.offline_reason("https://no-such-host.invalid", honour_hf_flags=False, timeout_s=2)
    assert reason is not None and "no-such-host.invalid cannot be reached" in reason


def speech_settings(**changes):
    """The ``speech`` section of config/config.yaml with ``changes``."""
    return dataclasses.replace(default_settings().speech, **changes)


def test_diarization_pyannote_is_an_error_offline(offline):
    with pytest.raises(MissingModelError, match="speech.pyannote_model"):
        Diarizer(speech_settings(diarization="pyannote", model_cache_dir=str(offline)))


def test_diarization_auto_falls_back_with_one_line(offline, caplog):
    with caplog.at_level(logging.WARNING, logger="egoinstruct.speech.diarize"):
        diarizer = Diarizer(speech_settings(diarization="auto", model_cache_dir=str(offline)))
    assert diarizer.method == "offline"
    lines = [r.getMessage() for r in caplog.records if r.name == "egoinstruct.speech.diarize"]
    assert len(lines) == 1 and "offline diarizer" in lines[0] and "because" in lines[0]
    assert "\n" not in lines[0] and "HF_HUB_OFFLINE is set" in lines[0]


def test_diarization_offline_never_asks(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the hub must not be consulted")

    monkeypatch.setattr("egoinstruct.speech.diarize.resolve_diarization_model", fail)
    assert Diarizer(speech_settings(diarization="offline")).method == "offline"
