"""An OpenAI-compatible chat model solves 20 GSM8K problems with the chat ToRA prompt.

Needs ``OPENAI_API_KEY`` (and ``langchain-openai``) and the GSM8K test set under
``$TORA_DATA_DIR/eval/gsm8k/test.jsonl``.  Settings:

* ``TORA_OPENAI_MODEL``: the model (default ``gpt-4o-mini``);
* ``OPENAI_BASE_URL``: another OpenAI-compatible endpoint (a vLLM or LiteLLM server);
* ``TORA_GSM8K_MIN_ACCURACY``: the accuracy to reach (default 0.7; gpt-4o-mini with
  tools scores about 0.9 on GSM8K).

    OPENAI_API_KEY=sk-... python -m pytest integration_tests/test_chat_model_gsm8k.py -rs -s
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from langchain_tora import ToRAChain, math_equal
from langchain_tora.datasets import DatasetNotFoundError, load_problems
from langchain_tora.interpreters import LocalInterpreter

N_PROBLEMS = 20
MODEL = os.environ.get("TORA_OPENAI_MODEL", "gpt-4o-mini")
MIN_ACCURACY = float(os.environ.get("TORA_GSM8K_MIN_ACCURACY", "0.7"))


def _missing() -> str | None:
    if importlib.util.find_spec("langchain_openai") is None:
        return "langchain-openai is not installed: pip install langchain-openai"
    if not os.environ.get("OPENAI_API_KEY"):
        return (
            "OPENAI_API_KEY is not set: an OpenAI key (or OPENAI_BASE_URL plus a key for an "
            "OpenAI-compatible server) is needed"
        )
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(scope="module")
def python() -> Iterator[LocalInterpreter]:
    with LocalInterpreter(timeout=10.0) as interpreter:
        yield interpreter


def test_chat_model_solves_gsm8k_with_tools(python: LocalInterpreter) -> None:
    from langchain_openai import ChatOpenAI

    try:
        problems = load_problems("gsm8k", limit=N_PROBLEMS)
    except DatasetNotFoundError as error:
        pytest.skip(f"GSM8K test set not found: {error}")
    llm = ChatOpenAI(model=MODEL, temperature=0, max_retries=3, timeout=120)
    chain = ToRAChain(llm=llm, interpreter=python, prompt="chat")

    outs = chain.batch(
        [p.question for p in problems], {"max_concurrency": 8}, return_exceptions=True
    )

    failures = [(p.id, o) for p, o in zip(problems, outs, strict=True) if isinstance(o, Exception)]
    assert len(failures) <= 2, f"model calls failed: {failures}"
    correct = 0
    for problem, out in zip(problems, outs, strict=True):
        if isinstance(out, Exception):
            continue
        ok = out["answer"] is not None and math_equal(out["answer"], problem.gold)
        correct += ok
        print(
            f"{problem.id}: gold={problem.gold} answer={out['answer']} ok={ok} "
            f"tool_calls={out['tool_calls']} stop={out['stop_reason']}"
        )
    accuracy = correct / len(problems)
    print(f"{MODEL}: {correct}/{len(problems)} = {accuracy:.0%}")
    assert accuracy >= MIN_ACCURACY, (
        f"{MODEL} solved {correct} of {len(problems)} GSM8K problems ({accuracy:.0%}), "
        f"below {MIN_ACCURACY:.0%}"
    )
    assert any(out["tool_calls"] > 0 for out in outs if not isinstance(out, Exception)), (
        "the model never ran code"
    )
