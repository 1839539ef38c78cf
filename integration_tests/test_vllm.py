"""ToRA on a real vLLM: a running server (``TORA_VLLM_URL`` + ``TORA_VLLM_MODEL``) or the
in-process engine (``TORA_VLLM_ENGINE_MODEL``, vllm installed, a GPU).

Serve a checkpoint and run::

    vllm serve llm-agents/tora-code-7b-v1.0 --dtype bfloat16
    TORA_VLLM_URL=http://localhost:8000/v1 TORA_VLLM_MODEL=llm-agents/tora-code-7b-v1.0 \
        python -m pytest integration_tests/test_vllm.py -rs
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_tora import ToRAChain, math_equal

PROBLEMS = [
    ("What is 17 * 23?", "391"),
    ("A shop has 1234 apples and sells 567. How many apples are left?", "667"),
    ("What is the sum of the first 10 positive integers?", "55"),
]


def _check(outs: list[dict[str, Any]]) -> None:
    assert all(isinstance(o["trajectory"], str) and o["trajectory"] for o in outs)
    correct = sum(
        o["answer"] is not None and math_equal(o["answer"], gold)
        for o, (_, gold) in zip(outs, PROBLEMS, strict=True)
    )
    assert correct >= 2, [o["answer"] for o in outs]


def test_served_model_solves_in_batched_rounds(vllm_server, interpreter):
    httpx = pytest.importorskip("httpx")
    from langchain_tora.vllm import served_completion_llm

    url, model = vllm_server
    requests: list[Any] = []
    client = httpx.Client(event_hooks={"request": [requests.append]}, timeout=600)
    llm = served_completion_llm(url, model, http_client=client)
    chain = ToRAChain(llm=llm, interpreter=interpreter)
    outs = chain.batch([q for q, _ in PROBLEMS])
    _check(outs)
    completions = [r for r in requests if r.url.path.endswith("/completions")]
    rounds = max(o["usage"]["model_calls"] for o in outs)
    assert len(completions) == rounds  # one request per round, every running prompt in it


def test_cli_spelling_reaches_the_server(vllm_server, interpreter):
    from langchain_tora.vllm import llm_from_spec

    url, model = vllm_server
    llm = llm_from_spec(f"vllm:{url}@{model}")
    out = ToRAChain(llm=llm, interpreter=interpreter).invoke(PROBLEMS[0][0])
    assert out["answer"] is not None


def test_engine_solves_in_batched_rounds(vllm_engine_model, interpreter):
    from langchain_tora.vllm import VLLMEngineLLM

    llm = VLLMEngineLLM(model=vllm_engine_model, dtype="bfloat16", max_model_len=4096)
    outs = ToRAChain(llm=llm, interpreter=interpreter).batch([q for q, _ in PROBLEMS])
    _check(outs)
