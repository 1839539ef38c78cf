"""The trajectory format shared by inference and training."""

from __future__ import annotations

import pytest

from langchain_tora.trajectory import (
    MAX_CALLS_NOTE,
    cut_round,
    last_python_block,
    model_rounds,
    output_block,
    python_blocks,
    segments,
    should_execute,
    tora_prompt,
)


def test_prompt_and_output_block():
    assert tora_prompt("q") == "<|user|>\nq\n<|assistant|>\n"
    assert output_block("5") == "\n```output\n5\n```\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n```python\nx=1\n```\n```output\n1\n```\nmore", "a\n```python\nx=1\n```"),
        ("a\n```python\nx=1\n```  \n\n", "a\n```python\nx=1\n```"),
        ("```python\nx=1\n```\n```python\ny=2\n```", "```python\nx=1\n```"),
        ("no code, $\\boxed{2}$ </s> tail", "no code, $\\boxed{2}$ </s> tail"),
        ("```python\nunclosed = 1\n", "```python\nunclosed = 1"),
    ],
)
def test_cut_round(text, expected):
    assert cut_round(text) == expected


def test_cut_round_uses_given_stops():
    assert cut_round("answer 5</s>more", stop=["</s>"]) == "answer 5"
    assert cut_round("x\n---\nQuestion: y", stop=["\n---"]) == "x"


def test_should_execute_and_programs():
    assert should_execute("```python\nprint(1)\n```")
    assert not should_execute("```python\nprint(1)\n")
    assert not should_execute("\\boxed{1}\n```python\nprint(1)\n```")
    text = "```python\na = 1\n```\nthen\n```python\nprint(a)\n```"
    assert python_blocks(text) == ["a = 1\n", "print(a)\n"]
    assert last_python_block(text) == "print(a)\n"
    assert last_python_block("no code") == ""


def test_segments_and_rounds_round_trip():
    rounds = [
        "Compute.\n```python\nprint(2)\n```",
        "Again.\n```python\nprint(3)\n```",
        "So $\\boxed{3}$.",
    ]
    outputs = ["2", "3"]
    traj = rounds[0] + output_block(outputs[0]) + rounds[1] + output_block(outputs[1]) + rounds[2]
    kinds = [s.kind for s in segments(traj)]
    assert kinds == ["model", "output", "model", "output", "model"]
    bodies = [traj[s.body_start : s.body_end] for s in segments(traj) if s.kind == "output"]
    assert bodies == outputs
    assert model_rounds(traj) == rounds
    capped = rounds[0] + output_block("2") + MAX_CALLS_NOTE
    assert model_rounds(capped) == [rounds[0]]
