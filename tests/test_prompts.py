"""Prompt formats: registry, completion prompts, chat messages, programs and observations."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_tora.prompts import (
    CoTFormat,
    PALFormat,
    ToRAChatFormat,
    ToRAFormat,
    fewshot,
    get_prompt_format,
)


def test_registry_and_errors():
    assert isinstance(get_prompt_format("tora"), ToRAFormat)
    assert get_prompt_format("chat:math").examples == "math"
    assert isinstance(get_prompt_format("cot:gsm8k"), CoTFormat)
    fmt = PALFormat()
    assert get_prompt_format(fmt) is fmt
    with pytest.raises(ValueError, match="unknown prompt format 'nope'"):
        get_prompt_format("nope")
    with pytest.raises(ValueError, match="no example sets"):
        get_prompt_format("tora:math")
    with pytest.raises(ValueError, match="unknown example set"):
        get_prompt_format("chat:physics")
    with pytest.raises(TypeError):
        get_prompt_format(3)  # type: ignore[arg-type]


def test_tora_format_rules():
    fmt = ToRAFormat()
    assert fmt.completion_prompt("Q") == "<|user|>\nQ\n<|assistant|>\n"
    assert fmt.program("```python\na = 1\n```\nthen\n```python\nprint(2)\n```") == "print(2)\n"
    assert fmt.program("$\\boxed{3}$ ```python\nprint(1)\n```") is None
    assert fmt.program("```python\nprint(1)\n```\nmore text") is None
    msgs = fmt.chat_messages("Q", [("t1", "\n```output\n1\n```\n"), ("t2", None)])
    assert [type(m) for m in msgs] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert msgs[2].content == "```output\n1\n```"


@pytest.mark.parametrize("examples", ["gsm8k", "math", "both"])
def test_chat_format_examples_become_rounds(examples):
    fmt = ToRAChatFormat(examples)
    msgs = fmt.chat_messages("What is 2+2?")
    assert isinstance(msgs[0], SystemMessage) and msgs[0].content == fewshot.TORA_SYSTEM
    shots = {"gsm8k": fewshot.TORA_GSM8K, "math": fewshot.TORA_MATH}
    expected = [*shots.get(examples, ())] or [*fewshot.TORA_GSM8K, *fewshot.TORA_MATH]
    questions = [
        m.content
        for m in msgs[1:-1]
        if isinstance(m, HumanMessage) and not m.content.startswith("```output")
    ]
    assert questions == [ex.question for ex in expected]
    # the assistant turns joined with the output turns give back each example's trajectory
    ai = [m for m in msgs if isinstance(m, AIMessage)]
    assert ai and all("```output" not in m.content for m in ai)
    assert msgs[-1].content == "What is 2+2?"


def test_few_shot_completion_prompt():
    prompt = PALFormat("gsm8k").completion_prompt("How many?")
    assert prompt.startswith(fewshot.PAL_SYSTEM)
    assert prompt.count("Question: ") == len(fewshot.PAL_GSM8K) + 1
    assert prompt.endswith("Question: How many?\nSolution:\n")


def test_pal_program_and_observation():
    fmt = PALFormat()
    code = fmt.program("```python\ndef solution():\n    return 2\n```")
    assert code is not None and code.endswith("print(solution())\n")
    already = fmt.program("```python\ndef solution():\n    return 2\nprint(solution())\n```")
    assert already is not None and already.count("print(solution())") == 1
    assert fmt.program("no code") is None
    assert fmt.observation("2") == "\n```output\n\\boxed{2}\n```\n"
    assert fmt.max_tool_calls == 1 and fmt.ends_after_execution


def test_cot_never_executes():
    fmt = CoTFormat()
    assert not fmt.executes and fmt.max_tool_calls == 0
    assert fmt.program("```python\nprint(1)\n```") is None
