"""Calls to a model: cache first, bounded concurrency, retries with backoff, per-run limits.

:meth:`Runner.call` answers one request:

1. the cache key is computed (:func:`egoinstruct.mllm.cache.request_key`); a deterministic
   (temperature-0) request found in the cache is answered from it — no call;
2. otherwise the per-run limits are checked and reserved: at most ``max_requests`` new calls and
   ``max_tokens_total`` tokens (prompt + completion, as reported by the backend) per run; when
   one is reached :class:`BudgetExceeded` stops the run — everything answered so far is cached,
   so raising the limit and rerunning continues where it stopped;
3. at most ``concurrency`` calls are in flight at once (a semaphore, also bounded by what the
   backend can serve in parallel);
4. a :class:`TransientBackendError` (timeout, HTTP 429 / 5xx, dropped connection) is retried up
   to ``max_retries`` times after an exponential backoff with jitter (``base · 2^attempt``,
   capped, the upper half randomised; a server's ``Retry-After`` is honoured up to the cap);
   then :class:`RetriesExhausted`. Other errors are not retried;
5. the answer is appended to the cache (durably) *before* it is returned.

Every result records whether it came from the cache, the latency of the call that produced it,
its attempts and token usage; :attr:`Runner.stats` sums them for the run.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from egoinstruct.mllm.backends.base import (
    Backend,
    ModelRequest,
    ModelResponse,
    TransientBackendError,
)
from egoinstruct.mllm.cache import ResponseCache, is_cacheable, request_key

log = logging.getLogger(__name__)
T = TypeVar("T")


class BudgetExceeded(RuntimeError):
    """A per-run limit (max_requests / max_tokens_total) was reached."""


class RetriesExhausted(RuntimeError):
    """A request still failed transiently after all retries."""


@dataclass(frozen=True)
class CallPolicy:
    concurrency: int = 1
    max_retries: int = 4
    max_requests: int | None = None
    max_tokens_total: int | None = None
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass
class CallResult:
    key: str
    response: ModelResponse
    cache_hit: bool
    cacheable: bool
    latency_s: float  # of the call that produced the answer (for a cache hit: when it was made)
    attempts: int  # 0 for a cache hit


@dataclass
class RunStats:
    requests: int = 0  # every request asked of the runner
    new_calls: int = 0  # requests sent to the model (not from the cache)
    cache_hits: int = 0
    uncacheable: int = 0  # temperature > 0: never cached
    attempts: int = 0  # calls including retries
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_latencies_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        latencies = sorted(data.pop("call_latencies_s"))
        data["latency_s_mean"] = sum(latencies) / len(latencies) if latencies else None
        data["latency_s_p50"] = latencies[len(latencies) // 2] if latencies else None
        data["latency_s_p95"] = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
        data["latency_s_total"] = sum(latencies)
        return data


class Runner:
    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None,
        policy: CallPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.backend = backend
        self.cache = cache
        self.policy = policy
        self.concurrency = max(1, min(policy.concurrency, backend.concurrency))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._sleep = sleep
        self._rng = rng or random.Random(0)
        self._identity = backend.identity()
        self.stats = RunStats()

    def key(self, request: ModelRequest) -> str:
        return request_key(self._identity, request)

    def backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        cap = self.policy.backoff_max_s
        if retry_after_s is not None and retry_after_s >= 0:
            return min(cap, retry_after_s)
        delay = min(cap, self.policy.backoff_base_s * 2**attempt)
        with self._lock:
            return delay / 2 + self._rng.uniform(0, delay / 2)

    def _reserve(self, request: ModelRequest) -> None:
        p = self.policy
        with self._lock:
            if p.max_requests is not None and self.stats.new_calls >= p.max_requests:
                raise BudgetExceeded(
                    f"model {self.backend.settings.name}: reached max_requests = {p.max_requests} new calls "
                    f"in this run (request {request.request_id} not sent); the answers so far are cached — "
                    f"raise {self.backend.settings.key('max_requests')} and rerun to continue"
                )
            used = self.stats.prompt_tokens + self.stats.completion_tokens
            if p.max_tokens_total is not None and used >= p.max_tokens_total:
                raise BudgetExceeded(
                    f"model {self.backend.settings.name}: used {used} tokens, max_tokens_total = "
                    f"{p.max_tokens_total} (request {request.request_id} not sent); the answers so far are "
                    f"cached — raise {self.backend.settings.key('max_tokens_total')} and rerun to continue"
                )
            self.stats.new_calls += 1

    def call(self, request: ModelRequest) -> CallResult:
        key = self.key(request)
        cacheable = is_cacheable(request) and self.cache is not None
        with self._lock:
            self.stats.requests += 1
            if not is_cacheable(request):
                self.stats.uncacheable += 1
        if cacheable:
            assert self.cache is not None
            entry = self.cache.get(key)
            if entry is not None:
                with self._lock:
                    self.stats.cache_hits += 1
                return CallResult(key, ModelResponse.from_json(entry["response"]), True, True,
                                  float(entry.get("latency_s") or 0.0), 0)
        self._reserve(request)
        attempt = 0
        while True:
            with self._slots:
                start = time.perf_counter()
                try:
                    response = self.backend.complete(request)
                    latency = time.perf_counter() - start
                    error = None
                except TransientBackendError as exc:
                    error = exc
            with self._lock:
                self.stats.attempts += 1
            if error is None:
                break
            if attempt >= self.policy.max_retries:
                raise RetriesExhausted(
                    f"model {self.backend.settings.name}: request {request.request_id} failed "
                    f"{attempt + 1} times ({error}); check the server, or raise "
                    f"{self.backend.settings.key('max_retries')} / {self.backend.settings.key('timeout_s')}"
                ) from error
            delay = self.backoff_s(attempt, error.retry_after_s)
            log.warning("request %s: %s; retry %d/%d in %.2f s", request.request_id, error, attempt + 1,
                        self.policy.max_retries, delay)
            with self._lock:
                self.stats.retries += 1
            self._sleep(delay)
            attempt += 1
        if cacheable:
            assert self.cache is not None
            self.cache.put(key, response, model=self.backend.settings.name, request_id=request.request_id,
                           latency_s=round(latency, 6), attempts=attempt + 1)
        with self._lock:
            self.stats.prompt_tokens += response.prompt_tokens or 0
            self.stats.completion_tokens += response.completion_tokens or 0
            self.stats.call_latencies_s.append(latency)
        return CallResult(key, response, False, cacheable, latency, attempt + 1)

    def run_all(self, tasks: Iterable[Callable[[], T]]) -> list[T]:
        """Run ``tasks`` on ``concurrency`` threads; results in task order.

        On the first error the tasks not yet started are cancelled, the running ones finish
        (their answers are cached), and the error is raised.
        """
        task_list = list(tasks)
        if self.concurrency == 1:
            return [task() for task in task_list]
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mllm") as pool:
            futures: list[Future[T]] = [pool.submit(task) for task in task_list]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                wait(futures)
                raise failed[0].exception()  # type: ignore[misc]
            return [f.result() for f in futures]
