"""train.shape and train.loop: dedup, cut points, continuing a prefix, shards, resume, merge."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM, FakeListChatModel
from langchain_core.outputs import Generation, LLMResult
from pydantic import Field

from langchain_tora import ToRAChain
from langchain_tora.datasets.benchmarks import Problem
from langchain_tora.trajectory import (
    MAX_CALLS_NOTE,
    PYTHON_FENCE,
    output_block,
    segments,
    split_tora_prompt,
    tora_prompt,
)
from train.shape import (
    choose_cut,
    continue_from,
    correction_limit,
    cut_candidates,
    main,
    merge,
    parse_shard,
    shape_shard,
    shard_file,
)
from train.synthesize import code_signature, is_valid

ROOT = Path(__file__).resolve().parents[1]


def _split(prompt: str) -> tuple[str, str]:
    question, so_far = split_tora_prompt(prompt)
    return question, so_far


def _numbers(question: str) -> tuple[int, int]:
    a, b = map(int, re.findall(r"\d+", question))
    return a, b


def _last_output(so_far: str) -> str | None:
    outputs = [s for s in segments(so_far) if s.kind == "output"]
    return so_far[outputs[-1].body_start : outputs[-1].body_end] if outputs else None


class SumSampler(BaseLLM):
    """An 'imitation model' for "What is A plus B?": draw s of a question (counted at its
    first round) is variant s % 4: right (``print(a + b)`` with a comment naming the
    draw), right in another program, wrong (``a - b``), or a NameError.  Questions in
    ``down`` raise."""

    draws: dict[str, int] = Field(default_factory=dict)
    first_rounds: list[str] = Field(default_factory=list)
    down: set[str] = Field(default_factory=set)

    @property
    def _llm_type(self) -> str:
        return "sum-sampler"

    def _reply(self, prompt: str) -> str:
        question, so_far = _split(prompt)
        if question in self.down:
            raise RuntimeError("out of memory")
        a, b = _numbers(question)
        if so_far:
            value = _last_output(so_far) or ""
            return "So $\\boxed{0}$." if "Error" in value else f"So $\\boxed{{{value}}}$."
        self.first_rounds.append(question)
        s = self.draws.get(question, 0)
        self.draws[question] = s + 1
        return [
            f"Add them.\n```python\nprint({a} + {b})  # draw {s}\n```",
            f"Add them.\n```python\ntotal = {a} + {b}\nprint(total)\n```",
            f"Subtract.\n```python\nprint({a} - {b})\n```",
            f"```python\nprint({a} + c)\n```",
        ][s % 4]

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=self._reply(p))] for p in prompts])


class SumTeacher(BaseLLM):
    """A teacher that continues any prefix of "What is A plus B?" correctly."""

    broken: set[str] = Field(default_factory=set)
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "sum-teacher"

    def _reply(self, prompt: str) -> str:
        self.prompts.append(prompt)
        question, so_far = _split(prompt)
        if question in self.broken:
            raise ValueError("the teacher failed")
        a, b = _numbers(question)
        outputs = [s for s in segments(so_far) if s.kind == "output"]
        partial = so_far[outputs[-1].end :] if outputs else so_far
        fences = [line for line in partial.split("\n") if line.startswith("```")]
        if fences and fences[-1].startswith(PYTHON_FENCE):
            return f"print({a} + {b})\n```"
        if _last_output(so_far) == str(a + b):
            return f"The sum is $\\boxed{{{a + b}}}$."
        return f"```python\nprint({a} + {b})\n```"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=self._reply(p))] for p in prompts])


def _problems(n: int) -> list[Problem]:
    return [
        Problem(
            f"sums-train/{i}", "sums", f"What is {10 * i + 3} plus {7 * i + 5}?", str(17 * i + 8)
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------- dedup and cuts


def test_code_signature_ignores_comments_spacing_and_prose():
    a = "Add.\n```python\nx = 1  # one\nprint(x)\n```\n```output\n1\n```\nSo $\\boxed{1}$."
    b = "We add.\n```python\nx=1\n\nprint( x )\n```\n```output\n1\n```\nThe answer: $\\boxed{1}$."
    assert code_signature(a) == code_signature(b)
    assert code_signature(a) != code_signature(a.replace("print(x)", "print(x + 0)"))
    broken = "```python\nprint(1\n```"  # does not parse: whitespace-collapsed text
    assert code_signature(broken) == code_signature("```python\nprint(1   \n```")
    assert code_signature(broken) != code_signature("```python\nprint(2\n```")
    two = "```python\nx = 1\n```\n```output\nDone\n```\n```python\nprint(2)\n```"
    swapped = "```python\nprint(2)\n```\n```output\n2\n```\n```python\nx = 1\n```"
    assert code_signature(two) != code_signature(swapped)


ERROR = "NameError: name 'c' is not defined"
FAILS_FIRST = (
    "Let me add.\n```python\nprint(3 + c)\n```"
    + output_block(ERROR)
    + "Oops.\n```python\nprint(3 + 5)\n```"
    + output_block("8")
    + "So $\\boxed{8}$."
)
OK = {"execution": {"error": None, "timed_out": False}}
FAILED = {"execution": {"error": ERROR, "timed_out": False}}
FINAL = {"execution": None}


def test_the_cut_is_before_the_first_failed_execution():
    limit = correction_limit(FAILS_FIRST, [FAILED, OK, FINAL])
    assert FAILS_FIRST[:limit] == "Let me add.\n"
    assert cut_candidates(FAILS_FIRST, limit) == [0, limit]
    assert choose_cut(FAILS_FIRST, [FAILED, OK, FINAL], random.Random(0), "first-error") == limit
    timed_out = {"execution": {"error": None, "timed_out": True}}
    later = correction_limit(FAILS_FIRST, [OK, timed_out, FINAL])
    assert FAILS_FIRST[:later].endswith("```\nOops.\n")


def test_random_cuts_are_line_boundaries_outside_outputs():
    wrong = FAILS_FIRST.replace("\\boxed{8}", "\\boxed{9}")
    steps = [OK, OK, FINAL]
    limit = correction_limit(wrong, steps)
    assert wrong[limit:] == "So $\\boxed{9}$."  # a wrong answer: up to its final line
    outputs = [(s.start, s.end) for s in segments(wrong) if s.kind == "output"]
    cuts = {choose_cut(wrong, steps, random.Random(seed), "random") for seed in range(200)}
    assert cuts == set(cut_candidates(wrong, limit)) and len(cuts) > 4
    for c in cuts:
        assert c == 0 or wrong[c - 1] == "\n"
        assert not any(a <= c < b for a, b in outputs), wrong[:c]
    capped = "```python\nprint(1)\n```" + output_block("1") + MAX_CALLS_NOTE  # as the chain ends
    assert correction_limit(capped, [OK]) == len(capped) - len(MAX_CALLS_NOTE)
    four = "Step.\n```python\nprint(1)\n```" + output_block("1")
    four = four * 4 + MAX_CALLS_NOTE  # the loop stopped at the limit: the 4th call is redone
    assert (
        four[: correction_limit(four, [OK] * 4)]
        == ("Step.\n```python\nprint(1)\n```" + output_block("1")) * 3 + "Step.\n"
    )
    assert correction_limit(four, [OK] * 4, max_tool_calls=5) == len(four) - len(MAX_CALLS_NOTE)
    with pytest.raises(ValueError, match="unknown cut mode"):
        choose_cut(wrong, steps, random.Random(0), "anywhere")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- continue_from


def test_continue_from_follows_the_loop_rules(interpreter):
    q = "What is 12 plus 30?"
    teacher = SumTeacher()
    inside = "Let me think.\n```python\nx = 1\n"
    wrong = "```python\nprint(12 - 30)\n```" + output_block("-18")
    three = ("```python\nprint(1)\n```" + output_block("1")) * 3
    outs = continue_from(teacher, [(q, ""), (q, inside), (q, wrong), (q, three)], interpreter)

    fresh, inner, fixed, capped = outs
    assert teacher.prompts[0] == tora_prompt(q)
    assert teacher.prompts[1] == tora_prompt(q) + inside
    assert fresh["trajectory"] == (
        "```python\nprint(12 + 30)\n```" + output_block("42") + "The sum is $\\boxed{42}$."
    )
    assert fresh["tool_calls"] == 1 and fresh["prefix_chars"] == 0 and is_valid(fresh, "42")
    assert inner["steps"][0]["code"] == "x = 1\nprint(12 + 30)\n"  # the whole block ran
    assert inner["trajectory"].startswith(inside) and is_valid(inner, "42")
    assert fixed["trajectory"].startswith(wrong) and fixed["tool_calls"] == 2
    assert is_valid(fixed, "42") and fixed["usage"]["model_calls"] == 2
    assert capped["stop_reason"] == "max_tool_calls" and capped["tool_calls"] == 4
    assert capped["trajectory"].endswith(MAX_CALLS_NOTE) and not is_valid(capped, "42")


def test_continue_from_isolates_failures_and_needs_a_completion_model(interpreter):
    teacher = SumTeacher(broken={"What is 1 plus 1?"})
    outs = continue_from(
        teacher, [("What is 1 plus 1?", ""), ("What is 2 plus 2?", "")], interpreter
    )
    assert isinstance(outs[0], ValueError) and is_valid(outs[1], "4")
    with pytest.raises(TypeError, match="completion model"):
        continue_from(FakeListChatModel(responses=["x"]), [("q", "")], interpreter)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- shards and merge


def _shape(problems, out, interpreter, *, shard=(0, 1), sampler=None, **kwargs):
    sampler = sampler or SumSampler()
    chain = ToRAChain(llm=sampler, interpreter=interpreter, prompt="tora")
    kwargs.setdefault("cut", "random")
    path = shape_shard(
        problems,
        chain,
        SumTeacher(),
        interpreter,
        out,
        shard=shard,
        samples=8,
        batch_size=2,
        progress=False,
        manifest={"corpus": str(out.parent / "corpus.jsonl")},
        **kwargs,
    )
    return path, sampler


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_shard_keeps_valid_samples_and_corrects_invalid_ones(interpreter, tmp_path, corpus):
    problems = _problems(3)
    path, _ = _shape(problems, tmp_path / "run", interpreter, cut="first-error")
    rows = _rows(path)
    assert [r["index"] for r in rows] == [0, 1, 2]
    for row, problem in zip(rows, problems, strict=True):
        assert (row["samples"], row["valid"], row["invalid"], row["errors"]) == (8, 4, 4, 0)
        assert len(row["sampled"]) == 2  # two right programs; the comment does not count
        assert row["corrections"] == 4 and len(row["corrected"]) == 2
        for item in row["sampled"] + row["corrected"]:
            assert f"\\boxed{{{problem.gold}}}" in item["trajectory"]
        assert row["sampler_usage"]["model_calls"] == 16
        assert row["teacher_usage"]["model_calls"] == 2 * 2 + 2 * 2

    report = merge(tmp_path / "run", keep=4)
    assert report["corpus_records"] == 2  # from the manifest
    assert report["valid_sampled"] == 12 and report["distinct_valid_sampled"] == 6
    assert report["corrections_tried"] == 12 and report["corrected"] == 6
    sampled = report["variants"]["corpus+sampled"]
    both = report["variants"]["corpus+sampled+corrected"]
    # a corrected "print(a + b)" is a sampled program again: three distinct per problem
    assert (sampled["kept"], both["kept"], both["problems_covered"]) == (6, 9, 3)
    records = _rows(tmp_path / "run" / "corpus+sampled+corrected.jsonl")
    assert len(records) == 2 + 9 and records[0]["messages"][0]["content"] == "q0"
    shaped = records[2:]
    keys = [(r["index"], r["messages"][1]["content"]) for r in shaped]
    assert keys == sorted(keys)
    assert Counter(r["source"] for r in shaped) == {"sampled": 6, "corrected": 3}
    assert "| corpus+sampled | 6 | 3 | 8 |" in (tmp_path / "run" / "report.md").read_text()


def test_resume_after_a_kill_and_merge_whatever_the_shards(interpreter, tmp_path, corpus):
    problems = _problems(5)
    one = tmp_path / "one"
    finished: list[int] = []

    def kill_after_three(index: int, row: dict[str, Any]) -> None:
        finished.append(index)
        if len(finished) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _shape(problems, one, interpreter, on_problem=kill_after_three)
    with shard_file(one, (0, 1)).open("a") as f:
        f.write('{"index": 3, "sampl')  # killed mid-line
    _, sampler = _shape(problems, one, interpreter)  # a new process: a new sampler
    assert set(sampler.first_rounds) == {problems[3].question, problems[4].question}
    assert Counter(sampler.first_rounds) == {problems[3].question: 8, problems[4].question: 8}

    two = tmp_path / "two"  # the same problems in two shards, run in the other order
    _shape(problems, two, interpreter, shard=(1, 2))
    _shape(problems, two, interpreter, shard=(0, 2))
    for out in (one, two):
        merge(out, keep=2, seed=7)
    for name in ("corpus+sampled.jsonl", "corpus+sampled+corrected.jsonl"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert (
        json.loads((one / "report.json").read_text())["variants"]
        == json.loads((two / "report.json").read_text())["variants"]
    )

    (two / "shards" / "extra.jsonl").write_text(shard_file(one, (0, 1)).read_text())
    with pytest.raises(ValueError, match="mixed"):
        merge(two)
    (two / "shards" / "extra.jsonl").unlink()
    shard_file(two, (1, 2)).unlink()
    with pytest.raises(ValueError, match="2 of 5 problems have no row"):
        merge(two)
    with pytest.warns(UserWarning, match="without 2 problems"):
        assert merge(two, allow_partial=True)["problems"] == 3


def test_a_problem_whose_every_sample_failed_gets_no_row(interpreter, tmp_path, corpus):
    problems = _problems(3)
    with pytest.warns(UserWarning, match=r"every sample failed for problems \[1\]"):
        path, _ = _shape(
            problems, tmp_path / "run", interpreter, sampler=SumSampler(down={problems[1].question})
        )
    assert [r["index"] for r in _rows(path)] == [0, 2]
    _, sampler = _shape(problems, tmp_path / "run", interpreter)
    assert set(sampler.first_rounds) == {problems[1].question}
    assert sorted(r["index"] for r in _rows(path)) == [0, 1, 2]


def test_shards_must_agree_on_the_problems(interpreter, tmp_path, corpus):
    _shape(_problems(2), tmp_path / "run", interpreter)
    with pytest.raises(ValueError, match="is for other problems"):
        _shape(_problems(3), tmp_path / "run", interpreter, shard=(1, 2))
    other = [Problem(p.id, p.dataset, p.question + " Quickly.", p.gold) for p in _problems(2)]
    with pytest.raises(ValueError, match="is for other problems"):
        _shape(other, tmp_path / "run", interpreter, shard=(1, 2))
    assert parse_shard("3/8") == (3, 8)
    for bad in ("8/8", "1", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="i/n"):
            parse_shard(bad)


def test_merge_on_the_command_line(interpreter, tmp_path, corpus, capsys):
    _shape(_problems(2), tmp_path / "run", interpreter)
    assert main(["merge", "--output", str(tmp_path / "run"), "--keep", "1"]) == 0
    assert "| corpus+sampled | 2 | 2 | 4 |" in capsys.readouterr().out


# --------------------------------------------------------------------------- the loop


def test_the_loop_runs_end_to_end_on_a_tiny_config(tmp_path):
    pytest.importorskip("torch")
    from train import loop

    recipe = yaml.safe_load((ROOT / "train/recipes/shaping-tiny.yaml").read_text())
    recipe["run_dir"] = str(tmp_path / "run")
    recipe["synthetic"].update(corpus_problems=8, pool_problems=4, eval_problems=4)
    recipe["tokenizer"] = {"vocab_size": 300, "number_tokens": 100}
    recipe["model"] = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    recipe["train"].update(
        max_steps=2, global_batch_size=4, per_device_batch_size=4, save_steps=100, report_to="none"
    )
    recipe["train"]["extra"].pop("train_sampling_strategy")
    recipe["shape"].update(samples=2, max_tokens=24, max_corrections=1, batch_size=4)
    recipe["eval"].update(max_tokens=24)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))

    assert loop.main(["--recipe", str(path)]) == 0
    run = tmp_path / "run"
    table = (run / "results.md").read_text().splitlines()
    assert len(table) == 2 + 3 and "sampling and correction" in table[-1]
    results = json.loads((run / "results.json").read_text())
    assert set(results["metrics"]) == {"imitation", "sampled", "sampled+corrected"}
    assert all(m["datasets"]["synthetic"]["n"] == 4 for m in results["metrics"].values())
    shaping = results["shaping"]
    assert shaping["problems"] == 4 and shaping["samples"] == 8
    assert shaping["corrections_tried"] >= 1 and shaping["corrected"] >= 1  # the teacher fixes
    assert results["records"]["imitation"] == 8
    assert results["records"]["sampled+corrected"] > results["records"]["sampled"]
    for name in ("imitation", "sampled", "sampled+corrected"):
        summary = json.loads((run / name / "final" / "training_summary.json").read_text())
        assert summary["global_steps"] == 2
    trained = (run / "sampled" / "final" / "model.safetensors").stat().st_mtime_ns
    assert loop.main(["--recipe", str(path), "--stages", "shape,retrain,report"]) == 0  # resumes
    assert (run / "sampled" / "final" / "model.safetensors").stat().st_mtime_ns == trained
    assert json.loads((run / "results.json").read_text())["metrics"] == results["metrics"]


def test_the_paper_scale_recipe_runs_training_and_shards_as_commands():
    from train import loop

    recipe = yaml.safe_load((ROOT / "train/recipes/shaping-tora-code-7b.yaml").read_text())
    data = loop.make_data(recipe, Path("unused"))
    assert data == {"corpus": "data/tora_corpus.jsonl", "pool": "gsm8k,math", "eval": "gsm8k,math"}
    command = loop.train_command(recipe, "shaped.jsonl", Path("runs/x"))
    assert command[:4] == ["accelerate", "launch", "--config_file", "train/configs/zero3.yaml"]
    assert command[4:] == [
        "-m", "train.sft", "--recipe", "train/recipes/tora-code-7b.yaml",
        "--data", "shaped.jsonl", "--output_dir", "runs/x",
    ]  # fmt: skip
    shard = loop.shard_command(
        recipe, Path("runs/x/imitation/final"), data, Path("runs/x/shaping"), 2
    )
    options = dict(zip(shard[4::2], shard[5::2], strict=False))
    assert shard[1:4] == ["-m", "train.shape", "run"]
    assert options["--shard"] == "2/4" and options["--samples"] == "64"
    assert options["--temperature"] == "0.6" and options["--top-p"] == "0.95"
    assert options["--teacher"].startswith("vllm:http") and options["--backend"] == "vllm"
    assert recipe["shape"]["keep"] == 4


def test_the_programmatic_teacher_continues_its_own_program_inside_a_block():
    from langchain_tora.datasets.synthetic import generate_problems, tora_solution
    from langchain_tora.trajectory import PYTHON_FENCE, model_rounds, tora_prompt
    from train.loop import ProgrammaticTeacher

    problem = generate_problems(1, seed=0)[0]
    teacher = ProgrammaticTeacher(problems={problem.question: problem})
    own = model_rounds(tora_solution(problem, rng=random.Random(problem.question), error_rate=0))
    first = own[0]
    start = first.index(PYTHON_FENCE) + len(PYTHON_FENCE) + 1
    for lines in (1, 2, 3):  # cut after 1, 2, 3 lines of the program: it completes the same program
        cut = start
        for _ in range(lines):
            cut = first.index("\n", cut) + 1
        assert first[:cut] + teacher.invoke(tora_prompt(problem.question) + first[:cut]) == first
    # a prefix that miscopied a number of the question keeps its mistake: no literal answer
    copied = first.index("question = ")
    line_end = first.index("\n", copied) + 1
    number = re.search(r"\d+", first[copied:line_end]).group()
    wrong = first[:copied] + first[copied:line_end].replace(number, str(int(number) + 1), 1)
    continuation = teacher.invoke(tora_prompt(problem.question) + wrong)
    assert wrong + continuation == first.replace(first[copied:line_end], wrong[copied:], 1)
    assert problem.answer not in continuation
