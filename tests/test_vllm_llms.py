"""ToRA on vLLM without a GPU: a fake completions server and a fake ``vllm`` module.

The served path runs the real ``langchain_openai.OpenAI`` client against an in-memory
HTTP transport that answers like vLLM's ``/v1/completions``; the engine path runs
:class:`VLLMEngineLLM` against a stand-in ``vllm`` module.  Both check that each round of
``ToRAChain.batch`` is ONE model call carrying every prompt, with the exact stop strings.
Real servers and engines are in ``integration_tests/test_vllm.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from langchain_tora import ToRAChain
from langchain_tora.trajectory import OUTPUT_FENCE
from langchain_tora.vllm import (
    VLLMEngineLLM,
    VLLMSpec,
    is_vllm_spec,
    llm_from_spec,
    parse_vllm_spec,
    served_completion_llm,
)

QUESTIONS = {
    "What is 2 + 3?": ("2 + 3", "5"),
    "What is 6 * 7?": ("6 * 7", "42"),
    "What is 10 - 4?": ("10 - 4", "6"),
}


def _reply(prompt: str) -> str:
    """What the fake model writes: code first, then the boxed answer after the output."""
    question = prompt.split("\n")[1]
    expression, answer = QUESTIONS[question]
    if OUTPUT_FENCE in prompt:
        return f"So the answer is $\\boxed{{{answer}}}$."
    # Goes on past the stop string, as a model that ignores stop would.
    return f"Let's compute.\n```python\nprint({expression})\n```\n```output\n999\n```"


def test_specs():
    assert is_vllm_spec("vllm:m") and not is_vllm_spec("openai:gpt-4o")
    assert parse_vllm_spec("vllm:http://h:8000@llm-agents/tora-7b-v1.0") == VLLMSpec(
        "llm-agents/tora-7b-v1.0", "http://h:8000/v1"
    )
    assert parse_vllm_spec("vllm:http://u:p@h:8000/v1/@tora-70b") == VLLMSpec(
        "llm-agents/tora-70b-v1.0", "http://u:p@h:8000/v1"
    )
    assert parse_vllm_spec("vllm:/models/my-tora") == VLLMSpec("/models/my-tora", None)
    with pytest.raises(ValueError, match="after '@'"):
        parse_vllm_spec("vllm:http://localhost:8000/v1")
    with pytest.raises(ValueError, match="needs a model"):
        parse_vllm_spec("vllm:")
    with pytest.raises(ValueError, match="not a vllm"):
        parse_vllm_spec("openai:gpt-4o")


# --------------------------------------------------------------------------- served


def _fake_vllm_server(requests: list[dict[str, Any]]) -> Any:
    httpx = pytest.importorskip("httpx")

    def handle(request: Any) -> Any:
        assert request.url.path == "/v1/completions"
        body = json.loads(request.content)
        requests.append(body)
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = []
        for i, prompt in enumerate(prompts):
            text = _reply(prompt)
            for stop in body.get("stop") or []:  # vLLM cuts at the first stop string
                text = text.split(stop)[0]
            choices.append({"index": i, "text": text, "finish_reason": "stop", "logprobs": None})
        return httpx.Response(
            200,
            json={
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 0,
                "model": body["model"],
                "choices": choices,
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
        )

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_served_model_one_request_per_round(interpreter):
    pytest.importorskip("langchain_openai")
    requests: list[dict[str, Any]] = []
    llm = served_completion_llm(
        "http://vllm.test:8000/v1",
        "llm-agents/tora-code-7b-v1.0",
        http_client=_fake_vllm_server(requests),
        max_retries=0,
    )
    chain = ToRAChain(llm=llm, interpreter=interpreter)
    outs = chain.batch(list(QUESTIONS))
    assert [o["answer"] for o in outs] == ["5", "42", "6"]
    assert [o["tool_calls"] for o in outs] == [1, 1, 1]
    assert "```output\n5\n```" in outs[0]["trajectory"]  # the sandbox's output, not the model's
    assert len(requests) == 2  # one request per round, all prompts in it
    for body in requests:
        assert len(body["prompt"]) == 3
        assert body["model"] == "llm-agents/tora-code-7b-v1.0"
        assert body["stop"] == ["```output", "</s>"]
        assert body["temperature"] == 0.0
        assert body["max_tokens"] == 1024
    assert requests[0]["prompt"][0] == "<|user|>\nWhat is 2 + 3?\n<|assistant|>\n"


def test_served_model_from_the_cli_spelling(monkeypatch):
    pytest.importorskip("langchain_openai")
    monkeypatch.setenv("VLLM_API_KEY", "secret-key")
    llm = llm_from_spec(
        "vllm:http://gpu:8000@tora-code-7b", temperature=0.6, top_p=0.95, seed=1, max_tokens=512
    )
    assert type(llm).__name__ == "OpenAI"
    assert llm.openai_api_base == "http://gpu:8000/v1"
    assert llm.model_name == "llm-agents/tora-code-7b-v1.0"
    assert (llm.temperature, llm.top_p, llm.seed, llm.max_tokens) == (0.6, 0.95, 1, 512)
    assert llm.openai_api_key.get_secret_value() == "secret-key"


# --------------------------------------------------------------------------- engine


@dataclass
class FakeSamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    max_tokens: int = 16
    stop: list[str] | None = None
    include_stop_str_in_output: bool = False


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"


@dataclass
class FakeRequestOutput:
    prompt_token_ids: list[int]
    outputs: list[FakeCompletion] = field(default_factory=list)


class FakeEngine:
    """Stands in for vllm.LLM: records each generate call."""

    built_with: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        FakeEngine.built_with = kwargs
        self.calls: list[tuple[list[str], FakeSamplingParams]] = []

    def generate(self, prompts: list[str], params: FakeSamplingParams, use_tqdm: bool = True):
        self.calls.append((list(prompts), params))
        results = []
        for prompt in prompts:
            text = _reply(prompt)
            for stop in params.stop or []:
                text = text.split(stop)[0]
            outs = [FakeCompletion(text, list(range(len(text) // 4))) for _ in range(params.n)]
            results.append(FakeRequestOutput(list(range(len(prompt) // 4)), outs))
        return results


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeEngine  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_engine_one_generate_call_per_round(fake_vllm, interpreter):
    llm = VLLMEngineLLM(model="llm-agents/tora-code-7b-v1.0", dtype="bfloat16", max_model_len=4096)
    chain = ToRAChain(llm=llm, interpreter=interpreter, max_tokens_per_round=300)
    outs = chain.batch(list(QUESTIONS))
    assert [o["answer"] for o in outs] == ["5", "42", "6"]
    assert FakeEngine.built_with == {
        "model": "llm-agents/tora-code-7b-v1.0",
        "dtype": "bfloat16",
        "tensor_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "trust_remote_code": False,
        "max_model_len": 4096,
    }
    calls = llm.engine.calls
    assert [len(prompts) for prompts, _ in calls] == [3, 3]
    params = calls[0][1]
    assert params.stop == ["```output", "</s>"] and not params.include_stop_str_in_output
    assert (params.max_tokens, params.temperature, params.top_p, params.n) == (300, 0.0, 1.0, 1)
    assert outs[0]["usage"]["output_tokens"] > 0


def test_engine_sampling_options_and_results(fake_vllm):
    llm = VLLMEngineLLM(model="m", temperature=0.7, top_p=0.9, seed=3)
    prompt = "<|user|>\nWhat is 6 * 7?\n<|assistant|>\n"
    result = llm.generate([prompt, prompt], stop=["```output"], n=2, max_tokens=64)
    assert [len(g) for g in result.generations] == [2, 2]
    gen = result.generations[0][0]
    assert gen.text.endswith("```python\nprint(6 * 7)\n```\n")
    assert gen.generation_info["finish_reason"] == "stop"
    assert gen.generation_info["prompt_tokens"] == len(prompt) // 4
    ((prompts, params),) = llm.engine.calls
    assert len(prompts) == 2
    assert (params.n, params.temperature, params.top_p, params.seed, params.max_tokens) == (
        2,
        0.7,
        0.9,
        3,
        64,
    )
    usage = result.llm_output["token_usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    with pytest.raises(TypeError, match="unexpected keyword"):
        llm.generate([prompt], best_of=3)


def test_engine_cuts_at_stop_even_when_the_engine_did_not(fake_vllm):
    class Sloppy(FakeEngine):
        def generate(self, prompts, params, use_tqdm=True):
            return [FakeRequestOutput([1], [FakeCompletion("x = 1\n```output\n1", [1, 2])])]

    llm = VLLMEngineLLM.from_engine(Sloppy(), model="m")
    assert llm.invoke("p", stop=["```output"]) == "x = 1\n"


def test_engine_without_vllm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    llm = VLLMEngineLLM(model="m")  # building the object needs no vllm
    with pytest.raises(ImportError, match="pip install vllm"):
        llm.invoke("p")


def test_cli_make_chain_builds_both_vllm_kinds(fake_vllm, interpreter):
    pytest.importorskip("langchain_openai")
    from langchain_tora.cli import make_chain

    def args(model: str) -> argparse.Namespace:
        return argparse.Namespace(
            model=model,
            prompt="auto",
            max_tool_calls=4,
            device="cpu",
            temperature=0.5,
            top_p=None,
            seed=7,
        )

    served = make_chain(args("vllm:http://localhost:8000/v1@tora-code-7b"), interpreter)
    assert type(served.llm).__name__ == "OpenAI"
    assert served.prompt_format.name == "tora"
    assert (served.llm.temperature, served.llm.seed) == (0.5, 7)
    engine = make_chain(args("vllm:tora-code-7b"), interpreter)
    assert isinstance(engine.llm, VLLMEngineLLM)
    assert (engine.llm.model, engine.llm.temperature, engine.llm.seed) == (
        "llm-agents/tora-code-7b-v1.0",
        0.5,
        7,
    )
