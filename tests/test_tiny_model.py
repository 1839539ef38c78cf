"""The packaged tiny model: `tora solve` offline, and ToRAChain.from_pretrained on it."""

from __future__ import annotations

import json

import pytest

from langchain_tora import ToRAChain, math_equal
from langchain_tora.cli import main
from langchain_tora.datasets.synthetic import generate_problems
from langchain_tora.models import TINY_MODEL_DIR

pytestmark = pytest.mark.skipif(
    not (TINY_MODEL_DIR / "config.json").is_file(),
    reason=(
        "the packaged tiny model is not in this checkout yet: build it with "
        "`python -m train.tiny --recipe train/recipes/tiny-tora.yaml` (issue 3)"
    ),
)


def test_the_tiny_model_ships_as_a_standard_model_folder():
    files = {p.name for p in TINY_MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= files
    assert (TINY_MODEL_DIR / "model.safetensors").stat().st_size < 15 * 2**20
    results = json.loads((TINY_MODEL_DIR / "results.json").read_text())["results"]
    # issue 3's bar: >= 90% on 500 fresh problems (the shipped model: 93.4%), and far
    # above its chain-of-thought twin (4.8%) of the same size and steps
    assert results["tora"]["problems"] == 500
    assert results["tora"]["accuracy"] >= 90
    assert results["tora"]["accuracy"] > 10 * results["cot"]["accuracy"]
    assert results["tora"]["training"]["global_steps"] == results["cot"]["training"]["global_steps"]


def test_tiny_model_solves_fresh_synthetic_problems(interpreter):
    problems = generate_problems(16, seed=987_654)  # a seed used neither in training nor in eval
    chain = ToRAChain.from_pretrained(
        "tiny-tora", interpreter=interpreter, llm_kwargs={"device": "cpu"}
    )
    outs = chain.batch([p.question for p in problems])
    solved = sum(math_equal(o["answer"], p.answer) for o, p in zip(outs, problems, strict=True))
    # 14 of these 16 on the machine that trained it (93.4% on 500 fresh problems)
    assert solved >= 12, [(o["answer"], p.answer) for o, p in zip(outs, problems, strict=True)]
    assert all(o["tool_calls"] >= 1 for o in outs)


def test_tora_solve_prints_steps_and_answer(capsys):
    problem = generate_problems(1, seed=4242)[0]  # the README's problem (not in training)
    code = main(["solve", problem.question, "--device", "cpu"])
    out = capsys.readouterr().out
    assert "```python" in out and "```output" in out
    assert out.strip().splitlines()[-1] == f"answer: {problem.answer}"
    assert code == 0


def test_the_console_script_flushes_everything_before_its_fast_exit():
    """``python -m langchain_tora.cli`` runs what the ``tora`` script runs (cli.run)."""
    import subprocess
    import sys

    problem = generate_problems(1, seed=4242)[0]
    command = [sys.executable, "-m", "langchain_tora.cli", "solve", problem.question]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "```python" in done.stdout  # the steps, through a pipe, nothing lost
    assert done.stdout.strip().splitlines()[-1] == f"answer: {problem.answer}"
    assert "1 tool calls" in done.stderr
    failed = subprocess.run(
        [*command[:4], "--model", "/nonexistent/model", "1+1?"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2 and "does not exist" in failed.stderr


def test_solve_reports_bad_models_clearly(capsys):
    assert main(["solve", "1+1?", "--model", "/nonexistent/model"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["openai:gpt-4o"])
def test_provider_model_strings_are_chat_models(spec):
    from langchain_tora.models import is_chat_model_spec

    assert is_chat_model_spec(spec)
