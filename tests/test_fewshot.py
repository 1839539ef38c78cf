"""Checks for the few-shot examples: every program runs and prints what its output block says."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import re
import sys
import traceback
from pathlib import Path

import pytest
import sympy

try:
    from langchain_tora import trajectory
    from langchain_tora.prompts import fewshot
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from langchain_tora import trajectory
    from langchain_tora.prompts import fewshot

Example = fewshot.Example

# The right answers, stated independently of the examples' text.
TORA_ANSWERS = {
    "TORA_GSM8K": ["324", "8", "684"],
    "TORA_MATH": ["257", r"\frac{20\sqrt{3}}{7}", r"\frac{3}{11}"],
}
COT_ANSWERS = {
    "COT_GSM8K": ["315", "330", "18"],
    "COT_MATH": ["2", "126", r"9\pi"],
}
PAL_ANSWERS = {
    "PAL_GSM8K": [57, 9, 105],
    "PAL_MATH": [157, sympy.Rational(7, 2), sympy.Rational(1, 4)],
}
ALL_SETS = [*TORA_ANSWERS, *COT_ANSWERS, *PAL_ANSWERS]

_ROUND = re.compile(r"```python\n(.*?)\n```\n```output\n(.*?)\n```\n", re.S)
_PAL = re.compile(r"```python\n(def solution\(\):\n.*)\n```", re.S)


def _cases(names):
    return [
        pytest.param(name, i, ex, id=f"{name}[{i}]")
        for name in names
        for i, ex in enumerate(getattr(fewshot, name))
    ]


def run_block(code: str) -> str:
    """What the interpreter shows for a program: its stripped stdout, or the error line."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(code, {})
    except Exception:
        return traceback.format_exc().split("\n")[-2]
    return buffer.getvalue().strip()


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, with nested braces."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


def check_final_sentence(solution: str, answer: str) -> None:
    last_line = solution.rsplit("\n", 1)[-1]
    assert solution.endswith("."), "the solution must end with a full sentence"
    assert f"$\\boxed{{{answer}}}$" in last_line
    assert last_boxed(solution) == answer
    assert solution.count("boxed") == 1, "only the final sentence may hold the answer"


# ---------------------------------------------------------------------------
# Shape of the module
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SETS)
def test_three_examples_each(name):
    examples = getattr(fewshot, name)
    assert isinstance(examples, tuple)
    assert len(examples) == 3
    for ex in examples:
        assert isinstance(ex, Example)
        assert ex.question.strip() == ex.question and ex.question
        assert ex.solution.strip() == ex.solution and ex.solution


def test_example_is_frozen_with_slots():
    ex = fewshot.TORA_GSM8K[0]
    assert not hasattr(ex, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.question = "changed"  # type: ignore[misc]


def test_questions_are_distinct():
    questions = [ex.question for name in ALL_SETS for ex in getattr(fewshot, name)]
    assert len(set(questions)) == len(questions)


def test_no_stop_strings_inside_examples():
    """The few-shot completion prompt separates examples with these; they must not occur inside one."""
    texts = [fewshot.TORA_SYSTEM, fewshot.PAL_SYSTEM, fewshot.COT_SYSTEM]
    texts += [
        t for name in ALL_SETS for ex in getattr(fewshot, name) for t in (ex.question, ex.solution)
    ]
    for text in texts:
        assert "\n---" not in text and "---" not in text
        assert "\nQuestion:" not in text and "\nSolution:" not in text


@pytest.mark.parametrize("name", ["TORA_SYSTEM", "PAL_SYSTEM", "COT_SYSTEM"])
def test_system_prompts(name):
    text = getattr(fewshot, name)
    assert isinstance(text, str)
    assert text.strip() == text and 50 < len(text) < 2000


def test_tora_system_explains_protocol():
    text = fewshot.TORA_SYSTEM
    for needle in ("```python", "```output", "print", "\\boxed{"):
        assert needle in text


def test_pal_and_cot_system_prompts():
    assert "solution()" in fewshot.PAL_SYSTEM
    assert "\\boxed{" in fewshot.COT_SYSTEM


# ---------------------------------------------------------------------------
# ToRA trajectories
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "i", "ex"), _cases(TORA_ANSWERS))
def test_tora_outputs_match_execution(name, i, ex):
    rounds = _ROUND.findall(ex.solution)
    assert rounds, "a ToRA example needs at least one python round"
    assert ex.solution.count("```python") == len(rounds)
    assert ex.solution.count("```output") == len(rounds)
    for code, shown in rounds:
        assert "print(" in code
        assert run_block(code + "\n") == shown, code


@pytest.mark.parametrize(("name", "i", "ex"), _cases(TORA_ANSWERS))
def test_tora_final_answer(name, i, ex):
    check_final_sentence(ex.solution, TORA_ANSWERS[name][i])
    tail = ex.solution.rsplit("```\n", 1)[-1]
    assert "```" not in tail, "no code after the last output block"


@pytest.mark.parametrize(("name", "i", "ex"), _cases(TORA_ANSWERS))
def test_tora_replays_through_trajectory_rules(name, i, ex):
    """The loop would cut, execute and append exactly what the example shows."""
    rounds = trajectory.model_rounds(ex.solution)
    rebuilt = ""
    for text in rounds[:-1]:
        assert trajectory.cut_round(text + "\n```output\njunk") == text
        assert trajectory.should_execute(text)
        result = run_block(trajectory.last_python_block(text))
        rebuilt += text + trajectory.output_block(result)
    final = rounds[-1]
    assert not trajectory.python_blocks(final)
    assert not trajectory.should_execute(final)
    assert rebuilt + final == ex.solution


def test_tora_multi_round_and_error_examples():
    for name in TORA_ANSWERS:
        counts = [len(_ROUND.findall(ex.solution)) for ex in getattr(fewshot, name)]
        assert max(counts) >= 2, f"{name} needs an example with two rounds"
    error_outputs = [
        shown
        for ex in fewshot.TORA_MATH
        for _, shown in _ROUND.findall(ex.solution)
        if re.fullmatch(r"[A-Za-z]*Error: .+", shown)
    ]
    assert error_outputs, "TORA_MATH needs an example that recovers from an error"


# ---------------------------------------------------------------------------
# PAL programs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "i", "ex"), _cases(PAL_ANSWERS))
def test_pal_solution_returns_answer(name, i, ex):
    solution = ex.solution
    assert "```output" not in solution
    assert "boxed" not in solution
    assert solution.startswith("```python\ndef solution():\n")
    assert solution.endswith("\n```")
    assert solution.count("```") == 2
    match = _PAL.fullmatch(solution)
    assert match is not None
    code = match.group(1)

    tree = ast.parse(code)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef)
    assert ast.get_docstring(tree.body[0])
    assert "print(" not in code
    assert "return result" in code

    namespace: dict = {}
    exec(code, namespace)
    result = namespace["solution"]()
    expected = PAL_ANSWERS[name][i]
    assert isinstance(result, int | float | sympy.Basic)
    assert sympy.simplify(sympy.sympify(result) - expected) == 0


# ---------------------------------------------------------------------------
# Chain of thought
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "i", "ex"), _cases(COT_ANSWERS))
def test_cot_final_answer(name, i, ex):
    assert "```" not in ex.solution
    answer = COT_ANSWERS[name][i]
    assert ex.solution.rsplit("\n", 1)[-1] == f"The answer is $\\boxed{{{answer}}}$."
    check_final_sentence(ex.solution, answer)


@pytest.mark.parametrize("name", ["TORA_GSM8K", "COT_GSM8K", "PAL_GSM8K"])
def test_gsm8k_answers_are_integers(name):
    answers = {**TORA_ANSWERS, **COT_ANSWERS, **PAL_ANSWERS}[name]
    for answer in answers:
        assert re.fullmatch(r"[1-9][0-9]*", str(answer))
