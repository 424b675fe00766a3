"""Start llama-cpp-python's OpenAI-compatible server on loopback (tests, benchmark, local use).

:func:`llama_cpp_server` runs ``python -m llama_cpp.server --model … --host 127.0.0.1 --port …``
as a child process, waits until ``GET /v1/models`` answers, yields the base URL
(``http://127.0.0.1:PORT/v1``) and always terminates the process on exit. It never binds to
anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base_url: str, timeout_s: float, process: subprocess.Popen | None = None, api_key: str | None = None) -> None:
    """Poll ``{base_url}/models`` until it answers 200 (raise TimeoutError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{base_url}/models", headers=headers), timeout=2) as reply:
                json.loads(reply.read())
                return
        except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError) as exc:
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"{base_url} not ready after {timeout_s} s ({last})")


@contextlib.contextmanager
def llama_cpp_server(
    model_path: str | Path,
    port: int | None = None,
    chat_format: str | None = "gemma",
    n_ctx: int = 4096,
    n_threads: int = 2,
    api_key: str | None = None,
    model_alias: str | None = None,
    log_path: str | Path | None = None,
    ready_timeout_s: float = 120.0,
    extra_args: list[str] | None = None,
) -> Iterator[str]:
    """Run the llama.cpp server for ``model_path`` on 127.0.0.1; yields its ``/v1`` base URL."""
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(n_threads),
        # Prompt evaluation too: its default is every core, and llama.cpp's spinning threads
        # collapse when they share the cores with another process.
        "--n_threads_batch", str(n_threads),
    ]
    if chat_format:
        cmd += ["--chat_format", chat_format]
    if api_key:
        cmd += ["--api_key", api_key]
    if model_alias:
        cmd += ["--model_alias", model_alias]
    cmd += extra_args or []
    log_handle = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(cmd, stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(base_url, ready_timeout_s, process, api_key)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if log_path:
            log_handle.close()  # type: ignore[union-attr]
