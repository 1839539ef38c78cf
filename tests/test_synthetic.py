"""The synthetic arithmetic task: problems, the ToRA teacher, CoT solutions, files."""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import subprocess
import sys
import traceback

import pytest

from langchain_tora.datasets.synthetic import (
    DATASET_NAME,
    TEMPLATES,
    cot_solution,
    drop_overlap,
    generate_problems,
    question_overlap,
    run_block,
    template_of,
    to_record,
    tora_solution,
    write_corpus,
    write_eval_set,
)
from langchain_tora.trajectory import (
    PYTHON_FENCE,
    cut_round,
    last_python_block,
    model_rounds,
    output_block,
    python_blocks,
    segments,
    should_execute,
)

N = 500
BOXED = re.compile(r"\\boxed\{(-?\d+)\}")


@pytest.fixture(scope="module")
def problems():
    return generate_problems(N, seed=123)


@pytest.fixture(scope="module")
def tora_solutions(problems):
    rng = random.Random(7)
    return [tora_solution(p, rng=rng) for p in problems]


def plain_exec(code: str) -> str:
    """Run a block with plain exec in a fresh namespace: the last printed line, or the
    last traceback line on an error (the 2023-10 view)."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(code, {})
    except Exception:
        return traceback.format_exc().split("\n")[-2]
    return buf.getvalue().rstrip("\n").split("\n")[-1].strip()


def output_bodies(trajectory: str) -> list[str]:
    return [
        trajectory[s.body_start : s.body_end] for s in segments(trajectory) if s.kind == "output"
    ]


# --- problems ---------------------------------------------------------------


def test_deterministic_per_seed_and_seeds_differ():
    assert generate_problems(40, seed=5) == generate_problems(40, seed=5)
    a, b = generate_problems(40, seed=5), generate_problems(40, seed=6)
    assert sum(x.question == y.question for x, y in zip(a, b, strict=True)) == 0


def test_many_templates_are_used(problems):
    assert len(TEMPLATES) >= 20
    assert len({t.id for t in TEMPLATES}) == len(TEMPLATES)
    used = {p.template for p in problems}
    assert len(used) >= 20
    assert used == {t.id for t in TEMPLATES}


def test_answers_are_exact_integers_of_the_expression(problems):
    for p in problems:
        assert re.fullmatch(r"-?\d+", p.answer), p
        assert str(eval(p.expression)) == p.answer, p
        assert int(p.answer) >= 0, p
        ops = re.findall(r" (\+|-|\*|//) ", p.expression)
        assert 2 <= len(ops) <= 4, p
        assert {int(x) for x in re.findall(r"\d+", p.expression)} == set(p.numbers), p


def test_numbers_appear_in_the_question(problems):
    for p in problems:
        for number in p.numbers:
            assert re.search(rf"(?<!\d){number}(?!\d)", p.question), (number, p.question)


def test_numbers_are_large_enough_to_need_the_tool(problems):
    big = sum(max(p.numbers) >= 100 for p in problems)
    assert big >= 0.9 * len(problems)
    assert max(int(p.answer) for p in problems) >= 500_000
    assert sum(int(p.answer) >= 1000 for p in problems) >= 0.6 * len(problems)


def test_wording_varies_within_a_template(problems):
    by_template: dict[str, set[str]] = {}
    for p in problems:
        # the question without its numbers and names: the wording skeleton
        by_template.setdefault(p.template, set()).add(re.sub(r"\d+|[A-Z][a-z]+", "#", p.question))
    assert sum(len(v) >= 2 for v in by_template.values()) >= 20


def test_train_and_eval_seeds_do_not_overlap():
    train, evals = generate_problems(2000, seed=1), generate_problems(500, seed=2)
    assert len(question_overlap(train, evals)) <= 1
    assert question_overlap(evals, drop_overlap(train, evals)) == set()


# --- the ToRA teacher -------------------------------------------------------


def test_tora_outputs_are_what_the_blocks_print(problems, tora_solutions):
    for p, t in zip(problems, tora_solutions, strict=True):
        blocks, outputs = python_blocks(t), output_bodies(t)
        assert len(blocks) == len(outputs) in (1, 2), t
        for code, shown in zip(blocks, outputs, strict=True):
            assert plain_exec(code) == shown == run_block(code), (code, shown)
        assert outputs[-1] == p.answer
        assert BOXED.findall(t) == [p.answer], t
        if len(blocks) == 2:
            assert outputs[0].startswith("NameError: name '"), t


def test_tora_trajectories_split_into_rounds(tora_solutions):
    for t in tora_solutions:
        rounds = model_rounds(t)
        outputs = output_bodies(t)
        assert len(rounds) == len(outputs) + 1
        for text, block in zip(rounds[:-1], python_blocks(t), strict=True):
            assert cut_round(text) == text
            assert should_execute(text)
            assert last_python_block(text) == block
        assert not should_execute(rounds[-1]) and PYTHON_FENCE not in rounds[-1]
        assert "boxed" in rounds[-1]
        # the loop rebuilds the trajectory: round, output block, round, ...
        rebuilt = "".join(r + output_block(o) for r, o in zip(rounds, outputs, strict=False))
        assert rebuilt + rounds[-1] == t
        kinds = [s.kind for s in segments(t)]
        assert kinds == ["model", "output"] * len(outputs) + ["model"]


def test_error_rate_is_about_right(tora_solutions):
    with_error = sum("NameError" in t for t in tora_solutions)
    assert 0.05 * N <= with_error <= 0.30 * N


def test_error_rate_bounds(problems):
    rng = random.Random(0)
    clean = [tora_solution(p, rng=rng, error_rate=0.0) for p in problems[:60]]
    assert not any("NameError" in t for t in clean)
    assert all(t.count(PYTHON_FENCE) == 1 for t in clean)
    broken = [tora_solution(p, rng=rng, error_rate=1.0) for p in problems[:60]]
    assert all(t.count(PYTHON_FENCE) == 2 for t in broken)
    assert any("is a typo for" in t for t in broken)
    assert any("used before it is computed" in t for t in broken)


def test_tora_solution_is_deterministic_for_its_rng(problems):
    a = [tora_solution(p, rng=random.Random(3), error_rate=0.5) for p in problems[:30]]
    b = [tora_solution(p, rng=random.Random(3), error_rate=0.5) for p in problems[:30]]
    assert a == b


def test_the_block_reads_the_numbers_from_the_question(problems, tora_solutions):
    for p, t in zip(problems[:50], tora_solutions[:50], strict=True):
        code = python_blocks(t)[-1]
        lines = code.rstrip().splitlines()
        assert lines[1] == f'question = "{p.question}"'
        names = lines[2].partition(" = ")[0].split(", ")
        assert len(names) == len(re.findall(r"\d+", p.question))
        assert sorted(n for n in names if n != "_") == sorted(template_of(p).inputs)
        values = dict(zip(names, map(int, re.findall(r"\d+", p.question)), strict=True))
        assert [values[n] for n in template_of(p).inputs] == list(p.numbers)
        assert lines[-1].startswith("print(")


def test_name_error_line_is_what_a_fresh_python_prints():
    code = "total = 5\nprint(totl)\n"
    probe = (
        "import traceback\n"
        f"try:\n    exec({code!r}, {{}})\n"
        "except Exception:\n    print(traceback.format_exc().split('\\n')[-2])\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert run_block(code) == fresh.stdout.strip()
    assert run_block(code).startswith("NameError: name 'totl' is not defined")


# --- chain of thought ------------------------------------------------------


def test_cot_solutions(problems):
    for p in problems:
        text = cot_solution(p)
        assert PYTHON_FENCE not in text and "```" not in text
        assert text.endswith(f"The answer is $\\boxed{{{p.answer}}}$.")
        steps = re.findall(r"(\d+) (\+|-|\*|//) (\d+) = (\d+)\.", text)
        assert 2 <= len(steps) <= 4
        for a, op, b, c in steps:
            assert eval(f"{a} {op} {b}") == int(c)
        assert int(steps[-1][3]) == int(p.answer)


# --- records and files -----------------------------------------------------


def test_to_record(problems):
    p = problems[0]
    record = to_record(p, cot_solution(p))
    assert record == {
        "messages": [
            {"role": "user", "content": p.question},
            {"role": "assistant", "content": cot_solution(p)},
        ],
        "gt": p.answer,
        "dataset": DATASET_NAME,
        "template": p.template,
    }


def test_write_corpus_and_eval_set(tmp_path):
    path = tmp_path / "train.jsonl"
    assert write_corpus(path, 60, seed=4) == 60
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 60 and all(r["dataset"] == DATASET_NAME for r in rows)
    for r in rows:
        assert BOXED.findall(r["messages"][1]["content"]) == [r["gt"]]
    again = tmp_path / "again.jsonl"
    write_corpus(again, 60, seed=4)
    assert again.read_text() == path.read_text()

    cot = tmp_path / "cot.jsonl"
    write_corpus(cot, 20, seed=4, style="cot")
    assert all("```" not in json.loads(line)["messages"][1]["content"] for line in cot.open())

    clean = tmp_path / "clean.jsonl"
    write_corpus(clean, 40, seed=4, error_rate=0.0)
    assert "NameError" not in clean.read_text()

    evals = tmp_path / "eval" / "test.jsonl"
    assert write_eval_set(evals, 30, seed=99) == 30
    rows = [json.loads(line) for line in evals.read_text().splitlines()]
    assert all(set(r) == {"question", "answer"} for r in rows)
    with pytest.raises(ValueError, match="unknown style"):
        write_corpus(tmp_path / "x.jsonl", 1, seed=0, style="pal")  # type: ignore[arg-type]
