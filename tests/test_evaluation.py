"""``langchain_tora.evaluation`` and ``tora eval``: rows, resume, votes, reports, regrade.

The models are scripted (they answer by question), so everything runs offline and fast.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM, FakeListChatModel
from langchain_core.outputs import Generation, LLMResult
from pydantic import Field

from langchain_tora import ToRAChain, cli
from langchain_tora.datasets import RELEASED_GSM8K_OUTPUTS, Problem, load_problems
from langchain_tora.evaluation import (
    evaluate,
    evaluate_dataset,
    majority_vote,
    read_rows,
    regrade,
)
from langchain_tora.trajectory import ASSISTANT_TAG, split_tora_prompt
from tests.conftest import RoundsLLM


def _question_of(prompt: str) -> str:
    return split_tora_prompt(prompt)[0]


def _first_round_questions(llm: RoundsLLM) -> list[str]:
    """The questions the model was asked to start (one per trajectory begun)."""
    return [_question_of(p) for call in llm.calls for p in call if p.endswith(f"{ASSISTANT_TAG}\n")]


class SamplesLLM(BaseLLM):
    """Answers the i-th prompt of a question with ``script[question][i]`` (cycling),
    so the samples of one problem differ; one-round answers only."""

    script: dict[str, list[str]]
    temperature: float = 0.7
    seen: dict[str, int] = Field(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "samples-fake"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        texts = []
        for prompt in prompts:
            question = _question_of(prompt)
            i = self.seen.get(question, 0)
            self.seen[question] = i + 1
            replies = self.script[question]
            texts.append(replies[i % len(replies)])
        return LLMResult(generations=[[Generation(text=t)] for t in texts])


def _boxed(answer: str) -> str:
    return f"So the answer is $\\boxed{{{answer}}}$."


def _problems(n: int, dataset: str = "toy") -> list[Problem]:
    return [Problem(f"{dataset}/{i}", dataset, f"What is {i} + {i}?", str(2 * i)) for i in range(n)]


# --------------------------------------------------------------------------- evaluate


def test_evaluate_writes_rows_metrics_table_and_chart(shared_data, interpreter, tmp_path):
    gsm8k = load_problems("gsm8k", data_dir=shared_data, limit=3)
    svamp = load_problems("svamp", data_dir=shared_data, limit=2)
    hundredth = f"{float(svamp[1].gold) / 100:g}"  # right only in ToRA-compatible grading
    script: dict[str, Any] = {
        gsm8k[0].question: [f"```python\nprint({gsm8k[0].gold})\n```", _boxed(gsm8k[0].gold)],
        gsm8k[1].question: [_boxed("-1")],
        gsm8k[2].question: RuntimeError("model down"),
        svamp[0].question: [_boxed(svamp[0].gold)],
        svamp[1].question: [_boxed(hundredth)],
    }
    chain = ToRAChain(llm=RoundsLLM(script=script), interpreter=interpreter, prompt="tora")
    metrics = evaluate(
        chain,
        {"gsm8k": gsm8k, "svamp": svamp},
        tmp_path,
        batch_size=2,
        progress=False,
        run_info={"model": "scripted", "prompt": "tora"},
    )

    rows = read_rows(tmp_path / "gsm8k.jsonl")
    assert [r["id"] for r in rows] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    first = rows[0]
    assert {"question", "gold", "trajectory", "steps", "prediction", "correct"} <= set(first)
    assert first["prediction"] == gsm8k[0].gold and first["correct"] is True
    assert first["tool_calls"] == 1 and first["steps"][0]["output"] == gsm8k[0].gold
    assert rows[1]["correct"] is False and rows[1]["error"] is None
    assert rows[2]["error"] == "RuntimeError: model down"
    assert rows[2]["correct"] is False and rows[2]["trajectory"] is None

    g, s = metrics["datasets"]["gsm8k"], metrics["datasets"]["svamp"]
    assert (g["n"], g["correct"], g["errors"], g["error_ids"]) == (3, 1, 1, ["gsm8k/2"])
    assert g["accuracy"] == pytest.approx(100 / 3, abs=1e-3)
    assert g["mean_tool_calls"] == 0.5  # failed calls left out
    assert g["seconds"] > 0 and g["problems_per_second"] > 0
    assert (s["accuracy_strict"], s["accuracy_compatible"]) == (50.0, 100.0)
    assert metrics["paper_average"]["avg"] == pytest.approx((100 / 3 + 50) / 2, abs=1e-3)
    assert metrics["paper_average_compatible"]["svamp"] == 100.0
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics

    table = (tmp_path / "results.md").read_text()
    assert "| Model | GSM8k | SVAMP | AVG |" in table
    assert "| scripted (strict) | 33.3 | 50.0 | 41.7 |" in table
    assert "| scripted (ToRA-compatible) | 33.3 | 100.0 | 66.7 |" in table
    assert "| SVAMP | 2 | 1 | 50.0 | 50.0 | 100.0 |" in table
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")


def test_resume_after_a_kill_redoes_nothing_finished(interpreter, tmp_path):
    problems = _problems(5)
    script: dict[str, Any] = {p.question: [_boxed(p.gold)] for p in problems}
    out = tmp_path / "toy.jsonl"

    # A run stopped in its third chunk: the first two chunks' rows are on disk.
    stopping = dict(script)
    stopping[problems[4].question] = KeyboardInterrupt()
    chain = ToRAChain(llm=RoundsLLM(script=stopping), interpreter=interpreter, prompt="tora")
    with pytest.raises(KeyboardInterrupt):
        evaluate_dataset(chain, problems, out, batch_size=2, progress=False)
    assert [r["id"] for r in read_rows(out)] == [f"toy/{i}" for i in range(4)]

    # ... and killed while writing its last row.
    text = out.read_text()
    out.write_text(text[: text.rindex('"question"')])
    assert len(read_rows(out)) == 3

    llm = RoundsLLM(script=script)
    chain = ToRAChain(llm=llm, interpreter=interpreter, prompt="tora")
    metrics = evaluate_dataset(chain, problems, out, batch_size=2, progress=False)
    assert _first_round_questions(llm) == [problems[3].question, problems[4].question]
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"toy/{i}" for i in range(5)]
    assert (metrics.n, metrics.correct) == (5, 5)

    # Nothing is left to do.
    llm = RoundsLLM(script=script)
    chain = ToRAChain(llm=llm, interpreter=interpreter, prompt="tora")
    assert evaluate_dataset(chain, problems, out, progress=False).n == 5
    assert llm.calls == []


def test_read_rows_repairs_only_a_cut_last_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')  # complete, newline missing
    assert [r["id"] for r in read_rows(path, repair=True)] == ["a", "b"]
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "pre')
    assert [r["id"] for r in read_rows(path)] == ["a", "b"]
    assert path.read_text().endswith('"pre')  # untouched without repair
    read_rows(path, repair=True)
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    path.write_text('{"id": "a"}\n{"id": \n{"id": "c"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_rows(path)


# --------------------------------------------------------------------------- voting


def test_majority_vote_groups_equal_answers():
    assert majority_vote(["8", "7", "7.0", "8", r"\frac{14}{2}"]) == ("7", [["8", 2], ["7", 3]])
    assert majority_vote(["1", "2", "3"]) == ("1", [["1", 1], ["2", 1], ["3", 1]])  # first wins
    assert majority_vote([None, "5", None]) == ("5", [["5", 1]])
    assert majority_vote([None, None]) == (None, [])


def test_samples_are_majority_voted(interpreter, tmp_path):
    problems = [
        Problem("toy/a", "toy", "A?", "7"),
        Problem("toy/b", "toy", "B?", "2"),
        Problem("toy/c", "toy", "C?", "5"),
    ]
    llm = SamplesLLM(
        script={
            "A?": [_boxed("7"), _boxed("8"), _boxed("7.0")],
            "B?": [_boxed("1"), _boxed("2"), _boxed("3")],
            "C?": ["I do not know.", _boxed("5"), "No idea."],
        }
    )
    chain = ToRAChain(llm=llm, interpreter=interpreter, prompt="tora")
    metrics = evaluate(chain, {"toy": problems}, tmp_path, samples=3, progress=False)
    a, b, c = read_rows(tmp_path / "toy.jsonl")
    assert (a["prediction"], a["correct"], a["votes"]) == ("7", True, [["7", 2], ["8", 1]])
    assert [s["correct"] for s in a["samples"]] == [True, False, True]
    assert {"trajectory", "steps", "prediction", "correct"} <= set(a["samples"][0])
    assert "trajectory" not in a
    assert (b["prediction"], b["correct"]) == ("1", False)  # a three-way tie: the first
    assert (c["prediction"], c["correct"]) == ("5", True)  # no answer does not vote
    toy = metrics["datasets"]["toy"]
    assert (toy["samples"], toy["correct"]) == (3, 2)
    assert metrics["paper_average"] == {}
    assert "No dataset of the paper was evaluated." in (tmp_path / "results.md").read_text()


def test_samples_with_greedy_decoding_warn(interpreter, tmp_path):
    llm = SamplesLLM(script={"A?": [_boxed("7")]}, temperature=0.0)
    chain = ToRAChain(llm=llm, interpreter=interpreter, prompt="tora")
    problems = [Problem("toy/a", "toy", "A?", "7")]
    with pytest.warns(UserWarning, match="temperature 0"):
        evaluate_dataset(chain, problems, tmp_path / "a.jsonl", samples=2, progress=False)


# --------------------------------------------------------------------------- regrade


def test_regrade_released_outputs(shared_data, tmp_path):
    report = regrade(shared_data / RELEASED_GSM8K_OUTPUTS, output=tmp_path)
    assert report.rows == 1319
    assert f"{report.accuracy_compatible:.1f}" == "80.7"
    assert f"{report.accuracy_strict:.1f}" == "80.5"
    assert [d["id"] for d in report.mode_differences] == [191, 806]
    assert report.recorded_differences == []
    rows = read_rows(tmp_path / "test.regraded.jsonl")
    assert len(rows) == 1319 and sum(r["correct_compatible"] for r in rows) == 1064
    assert "80.7" in report.summary()


def test_regrade_own_rows_and_report_changed_verdicts(tmp_path):
    path = tmp_path / "toy.jsonl"
    rows = [
        {"id": "toy/0", "gold": "4", "trajectory": _boxed("4"), "prediction": "4",
         "correct_strict": True, "correct_compatible": True},
        {"id": "toy/1", "gold": "50", "trajectory": _boxed("0.5"), "prediction": "0.5",
         "correct_strict": True, "correct_compatible": True},
        {"id": "toy/2", "gold": "3", "samples": [
            {"trajectory": _boxed("3")}, {"trajectory": _boxed("2")}, {"trajectory": _boxed("3")}
         ], "prediction": "2", "correct_strict": False, "correct_compatible": False},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = regrade(path, tora_compatible=True)
    assert (report.correct_strict, report.correct_compatible) == (2, 3)
    assert [d["id"] for d in report.mode_differences] == ["toy/1"]
    changed = {(d["id"], d["mode"]) for d in report.recorded_differences}
    assert changed == {("toy/1", "strict"), ("toy/2", "strict"), ("toy/2", "compatible")}
    assert [d["id"] for d in report.prediction_changes] == ["toy/2"]
    regraded = read_rows(tmp_path / "toy.regraded.jsonl")
    assert regraded[2]["prediction"] == "3" and regraded[2]["correct"] is True
    assert [s["correct"] for s in regraded[2]["samples"]] == [True, False, True]


# --------------------------------------------------------------------------- the CLI


def test_cli_eval_and_regrade(shared_data, interpreter, tmp_path, monkeypatch, capsys):
    svamp = load_problems("svamp", data_dir=shared_data, limit=3)
    llm = RoundsLLM(script={p.question: [_boxed(p.gold)] for p in svamp})
    seen: list[argparse.Namespace] = []

    def scripted_chain(args: argparse.Namespace, _interpreter: Any) -> ToRAChain:
        seen.append(args)
        return ToRAChain(llm=llm, interpreter=interpreter, prompt=args.prompt)

    monkeypatch.setattr(cli, "make_chain", scripted_chain)
    out = tmp_path / "run"
    argv = ["eval", "--dataset", "SVAMP", "--limit", "3", "--data-dir", str(shared_data)]
    argv += ["--output", str(out), "--prompt", "tora", "--batch-size", "2"]
    argv += ["--max-concurrency", "1", "--top-p", "0.9", "--seed", "3", "--quiet"]
    assert cli.main(argv) == 0
    assert (seen[0].top_p, seen[0].seed, seen[0].samples) == (0.9, 3, 1)
    assert [len(call) for call in llm.calls] == [1, 1, 1]  # max_concurrency honoured
    assert len(read_rows(out / "svamp.jsonl")) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["datasets"]["svamp"]["accuracy"] == 100.0
    assert metrics["run"]["max_concurrency"] == 1
    assert (out / "results.md").is_file() and (out / "results.png").is_file()
    assert "svamp: 100.0 strict" in capsys.readouterr().out

    assert cli.main(argv) == 0  # resumed: nothing left to do
    assert len(llm.calls) == 3

    assert cli.main(["eval", "--regrade", str(out / "svamp.jsonl")]) == 0
    printed = capsys.readouterr().out
    assert "accuracy (strict grading): 100.0" in printed
    assert "rows whose verdict differs from the recorded one: 0" in printed
    assert (out / "svamp.regraded.jsonl").is_file()

    assert cli.main(["eval", "--dataset", "svamp"]) == 2  # no --output
    assert "--output DIR is needed" in capsys.readouterr().err


def test_make_chain_passes_sampling_options(monkeypatch, interpreter):
    captured: dict[str, Any] = {}

    def from_pretrained(model_id: str, **kwargs: Any) -> str:
        captured.update(model_id=model_id, **kwargs)
        return "chain"

    monkeypatch.setattr(ToRAChain, "from_pretrained", from_pretrained)
    args = argparse.Namespace(
        model="org/some-model", prompt="tora", max_tool_calls=3, device="cpu",
        temperature=0.6, top_p=0.95, seed=7,
    )  # fmt: skip
    assert cli.make_chain(args, interpreter) == "chain"
    assert captured["llm_kwargs"] == {"device": "cpu", "temperature": 0.6, "top_p": 0.95, "seed": 7}
    assert captured["max_tool_calls"] == 3 and captured["prompt"] == "tora"

    solve_args = argparse.Namespace(  # `tora solve` has no --top-p / --seed
        model="org/some-model", prompt="auto", max_tool_calls=4, device="auto", temperature=None
    )
    cli.make_chain(solve_args, interpreter)
    assert captured["llm_kwargs"] == {"device": "auto"}

    chat_kwargs: dict[str, Any] = {}

    def load_chat_model(spec: str, **kwargs: Any) -> FakeListChatModel:
        chat_kwargs.update(kwargs)
        return FakeListChatModel(responses=["$\\boxed{1}$"])

    monkeypatch.setattr("langchain_tora.models.load_chat_model", load_chat_model)
    args.model = "openai:gpt-4o"
    chain = cli.make_chain(args, interpreter)
    assert isinstance(chain, ToRAChain)
    assert chat_kwargs == {"temperature": 0.6, "top_p": 0.95}  # no seed for chat models
