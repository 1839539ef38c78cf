"""train.synthesize: a corpus curated by a scripted GSM8K teacher, validity, resume after a kill."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from langchain_tora import ToRAChain
from langchain_tora.datasets.benchmarks import Problem
from langchain_tora.trajectory import OUTPUT_FENCE
from train.corpus import load_records
from train.synthesize import (
    code_signature,
    is_valid,
    load_training_problems,
    main,
    sampling_copy,
    synthesize,
)

SAMPLES = 9
KEEP = 4


class GoldTeacher(BaseChatModel):
    """A chat teacher that answers GSM8K problems from their gold answers.

    Greedy decoding (temperature 0) is right except on ``greedy_wrong``.  Sampling draws
    variants in turn: draw ``s % 3 == 0`` computes a wrong answer, ``1`` makes a
    ``NameError`` first (then fixes it: right answer, still invalid), ``2`` is right, in
    two programs that alternate (``print(gold)`` / ``answer = gold``) and a comment that
    changes every draw (the same code for deduplication).  ``never_right`` problems are
    always wrong.  Every call's question is recorded in ``calls``.
    """

    gold: dict[str, str]
    greedy_wrong: set[str] = Field(default_factory=set)
    never_right: set[str] = Field(default_factory=set)
    down: set[str] = Field(default_factory=set)
    temperature: float = 0.0
    top_p: float = 1.0
    calls: list[str] = Field(default_factory=list)
    draws: dict[str, int] = Field(default_factory=dict)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "gold-teacher"

    def _first_round(self, question: str) -> str:
        gold = self.gold[question]
        if self.temperature == 0:
            wrong = question in self.greedy_wrong
            return f"Compute it.\n```python\nprint({gold}{' * 2 + 1' if wrong else ''})\n```"
        with self._lock:
            s = self.draws.get(question, 0)
            self.draws[question] = s + 1
        if question in self.never_right or s % 3 == 0:
            return f"Compute it.\n```python\nprint({gold} * 2 + 1)\n```"
        if s % 3 == 1:
            return f"Compute it.\n```python\nanswer = {gold}\nprint(ansewr)\n```"
        if (s // 3) % 2 == 0:
            return f"Compute it.\n```python\nprint({gold})  # draw {s}\n```"
        return f"Compute it.\n```python\nanswer = {gold}\nprint(answer)  # draw {s}\n```"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        at = max(i for i, m in enumerate(messages) if m.text in self.gold)
        question, after = messages[at].text, messages[at + 1 :]
        with self._lock:
            self.calls.append(question)
        if question in self.down:
            raise ConnectionError("the API is down")
        if not after:
            text = self._first_round(question)
        else:
            last = after[-1].text
            assert isinstance(after[-1], HumanMessage) and last.startswith(OUTPUT_FENCE)
            value = last.split("\n")[1]
            if "Error" in value:
                text = f"Fix the name.\n```python\nprint({self.gold[question]})\n```"
            else:
                text = f"The answer is $\\boxed{{{value}}}$."
        usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))]
        )


@pytest.fixture(scope="module")
def gsm8k(shared_data):
    return load_training_problems("gsm8k", data_dir=shared_data, limit=20)


def _teacher(problems: list[Problem]) -> GoldTeacher:
    questions = [p.question for p in problems]
    return GoldTeacher(
        gold={p.question: p.gold for p in problems},
        greedy_wrong=set(questions[::3]),  # 0, 3, ..., 18: 7 problems need sampling
        never_right=set(questions[9:10]),
    )


def _chains(teacher: GoldTeacher, interpreter: Any) -> tuple[ToRAChain, ToRAChain]:
    greedy = ToRAChain(llm=teacher, interpreter=interpreter, prompt="chat:gsm8k")
    sampler = greedy.model_copy(update={"llm": sampling_copy(teacher, temperature=0.6, top_p=0.95)})
    return greedy, sampler


def _run(problems, teacher, interpreter, out, **kwargs):
    greedy, sampler = _chains(teacher, interpreter)
    return synthesize(
        problems,
        greedy,
        sampler,
        out,
        samples=SAMPLES,
        keep=KEEP,
        batch_size=4,
        config={"max_concurrency": 4},
        progress=False,
        **kwargs,
    )


def _corpus(out) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]


def test_the_gsm8k_training_set_loads_with_training_ids(gsm8k):
    assert len(gsm8k) == 20
    assert gsm8k[0].id == "gsm8k-train/0" and gsm8k[0].gold == "72"
    assert gsm8k[0].question.startswith("Natalia sold clips")


def test_a_scripted_teacher_curates_a_valid_corpus(gsm8k, interpreter, tmp_path):
    teacher = _teacher(gsm8k)
    report = _run(gsm8k, teacher, interpreter, tmp_path)
    assert report["retry"] == []

    stats = report["datasets"]["gsm8k"]
    assert stats["problems"] == 20 and stats["covered"] == 19 and stats["coverage"] == 95.0
    assert stats["greedy_valid"] == 13 and stats["rescued_by_sampling"] == 6
    # two distinct valid programs per rescued problem: comments do not make a new one
    assert stats["records"] == 13 + 6 * 2
    calls = Counter(teacher.calls)
    greedy_wrong = [p.question for p in gsm8k[::3]]
    assert all(calls[p.question] == 2 for p in gsm8k if p.question not in greedy_wrong)
    assert all(calls[q] == 2 + 3 * (2 + 3 + 2) for q in greedy_wrong if q != gsm8k[9].question)
    assert stats["teacher_calls"] == sum(calls.values())
    assert stats["input_tokens"] == 100 * stats["teacher_calls"]
    assert stats["output_tokens"] == 10 * stats["teacher_calls"]

    records = load_records(tmp_path / "corpus.jsonl")  # the format train.sft reads
    rows = _corpus(tmp_path)
    assert len(records) == len(rows) == 25
    gold = {p.id: p.gold for p in gsm8k}
    for row, record in zip(rows, records, strict=True):
        assert f"\\boxed{{{gold[row['problem_id']]}}}" in record.trajectory
        assert "Error" not in record.trajectory and row["gt"] == gold[row["problem_id"]]
        assert row["source"] == ("sampled" if record.question in greedy_wrong else "greedy")
    per_problem = Counter(r["problem_id"] for r in rows)
    assert max(per_problem.values()) <= KEEP and gsm8k[9].id not in per_problem
    ledger = [json.loads(x) for x in (tmp_path / "problems.jsonl").read_text().splitlines()]
    assert [r["id"] for r in ledger] == [p.id for p in gsm8k]
    assert json.loads((tmp_path / "report.json").read_text())["total"]["covered"] == 19


def test_killed_and_restarted_it_finishes_without_asking_again(gsm8k, interpreter, tmp_path):
    clean = tmp_path / "clean"
    _run(gsm8k, _teacher(gsm8k), interpreter, clean)

    out = tmp_path / "killed"
    first = _teacher(gsm8k)
    finished: list[str] = []

    def kill_after_seven(problem: Problem, row: dict[str, Any]) -> None:
        finished.append(problem.question)
        if len(finished) == 7:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        _run(gsm8k, first, interpreter, out, on_problem=kill_after_seven)
    # A kill can also land between a problem's records and its ledger row, or mid-line.
    with (out / "corpus.jsonl").open("a") as f:
        f.write(json.dumps({"problem_id": gsm8k[12].id, "messages": []}) + "\n")
        f.write('{"problem_id": "gsm8k-tra')
    with (out / "problems.jsonl").open("a") as f:
        f.write('{"id": "gsm8k-train/7", "datas')

    second = _teacher(gsm8k)
    report = _run(gsm8k, second, interpreter, out)

    asked_again = set(second.calls) & set(finished)
    assert not asked_again, "finished problems were asked again"
    assert set(second.calls) == {p.question for p in gsm8k[7:]}
    ledger = [json.loads(x) for x in (out / "problems.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in ledger) == sorted(p.id for p in gsm8k)

    def key(row: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        return row["problem_id"], code_signature(row["messages"][1]["content"])

    assert sorted(map(key, _corpus(out))) == sorted(map(key, _corpus(clean)))
    assert report["total"]["covered"] == 19 and report["total"]["records"] == 25


def test_a_problem_whose_every_call_failed_is_retried_next_run(
    gsm8k, interpreter, tmp_path, capsys
):
    problems = gsm8k[:4]
    teacher = _teacher(problems)
    teacher.down = {
        problems[1].question,
        problems[3].question,
    }  # 3 is greedy-wrong: samples fail too
    report = _run(problems, teacher, interpreter, tmp_path)
    assert report["total"]["problems"] == 2 and len(report["retry"]) == 2
    assert "every teacher call failed for 2 problems" in capsys.readouterr().err
    teacher.down = set()
    teacher.calls.clear()
    report = _run(problems, teacher, interpreter, tmp_path)
    assert set(teacher.calls) == {problems[1].question, problems[3].question}
    assert report["total"]["problems"] == 4 and report["total"]["covered"] == 4


def _output(answer: str, *, error: str | None = None, timed_out: bool = False, stop="answer"):
    execution = {"stdout": f"{answer}\n", "error": error, "timed_out": timed_out}
    step = {"text": "t", "code": "print(1)", "output": answer, "execution": execution}
    final = {"text": "$\\boxed{x}$", "code": None, "output": None, "execution": None}
    return {"answer": answer, "stop_reason": stop, "steps": [step, final]}


def test_validity_needs_a_right_answer_and_clean_executions():
    assert is_valid(_output("8"), "8")
    assert not is_valid(_output("9"), "8")
    assert not is_valid(_output("8", error="NameError: name 'x' is not defined"), "8")
    assert not is_valid(_output("8", timed_out=True), "8")
    assert not is_valid(_output("8", stop="max_tool_calls"), "8")
    assert not is_valid(ValueError("the model failed"), "8")
    assert is_valid(_output("0.08"), "8", tora_compatible=True)
    assert not is_valid(_output("0.08"), "8")


def test_any_jsonl_of_questions_and_gold_answers(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {"question": "What is 6 * 7?", "answer": "42"},
        {"problem": "Find $x$ if $x + 1 = 3$.", "solution": "So $x = \\boxed{2}$."},
        {"question": "How many?", "answer": "Three and two.\n#### 1,005"},
        {"input": "Half of 3?", "target": 1.5},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = load_training_problems(str(path))
    assert [p.gold for p in problems] == ["42", "2", "1005", "1.5"]
    assert problems[0].id == "mine-train/0" and problems[0].dataset == "mine"
    assert len(load_training_problems(f"{path},{path}", limit=1)) == 2
    with pytest.raises(FileNotFoundError, match="not gsm8k, math"):
        load_training_problems(str(tmp_path / "missing.jsonl"))


def test_the_command_line_builds_greedy_and_sampling_teachers(
    gsm8k, interpreter, tmp_path, monkeypatch, shared_data, capsys
):
    import langchain_tora.cli

    teacher = _teacher(gsm8k[:6])
    built: list[Any] = []

    def fake_make_chain(args: Any, python: Any) -> ToRAChain:
        built.append(args)
        return ToRAChain(llm=teacher, interpreter=python, prompt=args.prompt)

    monkeypatch.setattr(langchain_tora.cli, "make_chain", fake_make_chain)
    code = main(
        [
            "--teacher", "fake:teacher", "--data", "gsm8k", "--data-dir", str(shared_data),
            "--limit", "6", "--output", str(tmp_path), "--samples", "3", "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    assert built[0].temperature == 0.0 and built[0].model == "fake:teacher"
    assert "gsm8k: 6/6 problems covered" in capsys.readouterr().out
    first_call = teacher.calls[0]
    assert first_call == gsm8k[0].question
    assert teacher.draws  # the sampling copy drew samples, the greedy one did not
