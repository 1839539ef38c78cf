"""Fixtures of the integration tests: each one skips with the reason naming what is missing.

* ``hub_token``: ``HF_TOKEN`` (a token with write access) for real pushes;
* ``hub_online``: the Hugging Face Hub reachable (not with ``HF_HUB_OFFLINE=1``);
* ``vllm_server``: ``TORA_VLLM_URL`` and ``TORA_VLLM_MODEL`` for a running ``vllm serve``
  (e.g. ``TORA_VLLM_URL=http://localhost:8000/v1 TORA_VLLM_MODEL=llm-agents/tora-code-7b-v1.0``);
* ``vllm_engine_model``: vLLM installed, a CUDA GPU, and ``TORA_VLLM_ENGINE_MODEL`` (a
  model id or folder to load in process).

Run them with ``python -m pytest integration_tests -rs`` (``-rs`` prints the skip reasons).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from langchain_tora.interpreters import LocalInterpreter

_TRUE = {"1", "ON", "YES", "TRUE"}


@pytest.fixture(scope="session")
def interpreter() -> Iterator[LocalInterpreter]:
    with LocalInterpreter(timeout=5.0) as python:
        yield python


def _require_hub_network() -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE:
        pytest.skip("network: HF_HUB_OFFLINE is set, the Hub tests need huggingface.co")
    try:
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError as error:
        pytest.skip(f"network: huggingface.co is not reachable ({error})")


@pytest.fixture(scope="session")
def hub_online() -> None:
    _require_hub_network()


@pytest.fixture(scope="session")
def hub_token() -> str:
    token = os.environ.get("HF_TOKEN")
    if not token:
        pytest.skip("HF_TOKEN is not set: a Hugging Face token with write access is needed to push")
    _require_hub_network()
    return token


@pytest.fixture(scope="session")
def vllm_server() -> tuple[str, str]:
    url, model = os.environ.get("TORA_VLLM_URL"), os.environ.get("TORA_VLLM_MODEL")
    missing = [
        name for name, value in (("TORA_VLLM_URL", url), ("TORA_VLLM_MODEL", model)) if not value
    ]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not set: start `vllm serve MODEL` and set TORA_VLLM_URL "
            "(e.g. http://localhost:8000/v1) and TORA_VLLM_MODEL (the served model id)"
        )
    assert url and model
    return url, model


@pytest.fixture(scope="session")
def vllm_engine_model() -> str:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pytest.skip("vllm is not installed (pip install vllm, on Linux with a GPU)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: vLLM's engine needs one")
    model = os.environ.get("TORA_VLLM_ENGINE_MODEL")
    if not model:
        pytest.skip("TORA_VLLM_ENGINE_MODEL not set: the model id or folder to load in vLLM")
    return model
