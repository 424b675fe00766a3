"""MLLM response cache: the key covers everything that changes an answer; append-only, durable."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from egoinstruct.mllm.backends.base import ModelRequest, ModelResponse, Part, Sampling
from egoinstruct.mllm.cache import ResponseCache, is_cacheable, request_key

IDENTITY = {"backend": "llama_cpp", "model": "gemma", "revision": "sha256:abc"}


def request(**changes) -> ModelRequest:
    base = ModelRequest(
        request_id="s01/states/00000",
        style="chat",
        system="sys",
        parts=(Part.of_text("hello"), Part.of_media("image", b"\xff\xd8one", "image/jpeg"),
               Part.of_media("audio", b"RIFFone", "audio/wav")),
        labels=("a", "b"),
        answer_format="json",
        decoding="grammar",
        sampling=Sampling(0.0, 16, None, 0),
        template_version="chat-v1",
    )
    return replace(base, **changes)


def test_key_is_stable_and_ignores_the_request_id():
    assert request_key(IDENTITY, request()) == request_key(IDENTITY, request())
    assert request_key(IDENTITY, request()) == request_key(IDENTITY, request(request_id="other/id"))
    assert len(request_key(IDENTITY, request())) == 64


@pytest.mark.parametrize("change", [
    {"system": "other"},
    {"parts": (Part.of_text("hello!"),)},
    {"parts": (Part.of_text("hello"), Part.of_media("image", b"\xff\xd8two", "image/jpeg"),
               Part.of_media("audio", b"RIFFone", "audio/wav"))},
    {"parts": (Part.of_text("hello"), Part.of_media("image", b"\xff\xd8one", "image/jpeg"),
               Part.of_media("audio", b"RIFFtwo", "audio/wav"))},
    {"labels": ("a", "b", "c")},
    {"answer_format": "word"},
    {"decoding": "json_object"},
    {"sampling": Sampling(0.0, 17, None, 0)},
    {"sampling": Sampling(0.0, 16, 0.9, 0)},
    {"sampling": Sampling(0.0, 16, None, 1)},
    {"template_version": "chat-v2"},
    {"style": "completion"},
])
def test_key_changes_with_everything_that_can_change_the_answer(change):
    assert request_key(IDENTITY, request(**change)) != request_key(IDENTITY, request())


def test_a_whole_number_written_as_int_or_float_gives_one_key():
    # settings are typed (temperature: float) while older configs gave YAML ints: one key for both,
    # so a response cache made before stays valid
    assert request_key(IDENTITY, request(sampling=Sampling(0, 16, None, 0))) == request_key(
        IDENTITY, request(sampling=Sampling(0.0, 16, None, 0)))
    assert request_key(IDENTITY, request(sampling=Sampling(0.5, 16, None, 0))) != request_key(IDENTITY, request())


@pytest.mark.parametrize("identity", [
    {**IDENTITY, "revision": "sha256:def"}, {**IDENTITY, "model": "qwen"}, {**IDENTITY, "backend": "openai"}])
def test_key_changes_with_model_and_weights(identity):
    assert request_key(identity, request()) != request_key(IDENTITY, request())


def test_only_greedy_requests_are_cacheable():
    assert is_cacheable(request())
    assert not is_cacheable(request(sampling=Sampling(0.7, 16, None, 0)))


def test_append_replay_and_torn_last_line(tmp_path):
    path = tmp_path / "cache" / "m.jsonl"
    cache = ResponseCache(path)
    cache.put("k1", ModelResponse("one", prompt_tokens=3, completion_tokens=1), latency_s=0.5)
    cache.put("k2", ModelResponse("two"))
    # A crash mid-write leaves half a line behind.
    with open(path, "ab") as handle:
        handle.write(b'{"key": "k3", "respo')
    again = ResponseCache(path)
    assert len(again) == 2 and again.torn_lines == 1
    assert again.response("k1").text == "one" and again.get("k1")["latency_s"] == 0.5
    assert again.response("k3") is None
    # The next append starts on a fresh line, and is replayed.
    again.put("k3", ModelResponse("three"))
    third = ResponseCache(path)
    assert third.response("k3").text == "three" and third.torn_lines == 1 and len(third) == 3
    lines = path.read_bytes().splitlines()
    assert lines[0].startswith(b'{"key":"k1"') and json.loads(lines[-1])["key"] == "k3"


def test_append_only_under_concurrent_writers(tmp_path):
    path = tmp_path / "m.jsonl"
    caches = [ResponseCache(path), ResponseCache(path)]  # e.g. two jobs of one model

    def write(index: int) -> None:
        for i in range(50):
            caches[index % 2].put(f"k{index}-{i}", ModelResponse("x" * 5000))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replayed = ResponseCache(path)
    assert len(replayed) == 200 and replayed.torn_lines == 0


def test_written_before_use_is_durable_on_disk(tmp_path):
    path = tmp_path / "m.jsonl"
    cache = ResponseCache(path)
    cache.put("k", ModelResponse("answer"))
    # Another process (a fresh reader) sees it immediately: nothing buffered in memory.
    assert json.loads(path.read_text().splitlines()[0])["response"]["text"] == "answer"
