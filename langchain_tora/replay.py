"""Replay recorded ToRA trajectories: re-execute their code and re-grade their answers.

Published ToRA outputs (``{"question", "gt", "code": [trajectory], ...}`` per line)
record what a model wrote and what the interpreter answered.  :class:`ReplayLLM` is a
completion model that writes, round by round, exactly what the recorded model wrote;
driving :class:`~langchain_tora.ToRAChain` with it re-runs every python block in
*this* interpreter, so one can check that the sandbox shows the model what the
original one did, and re-grade the answers with this project's grader.

Example:
    >>> from langchain_tora.replay import ReplayLLM
    >>> llm = ReplayLLM(trajectories={"1+1?": "```python\\nprint(1+1)\\n```\\n```output\\n2\\n```\\n$\\\\boxed{2}$"})
    >>> llm.invoke("<|user|>\\n1+1?\\n<|assistant|>\\n")
    '```python\\nprint(1+1)\\n```'
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult
from tqdm.auto import tqdm

from langchain_tora.grading import math_equal
from langchain_tora.interpreters import BaseInterpreter, LocalInterpreter, OutputStyle
from langchain_tora.trajectory import OUTPUT_FENCE, model_rounds, segments, split_tora_prompt


class ReplayLLM(BaseLLM):
    """A completion model that replays recorded ToRA trajectories round by round.

    The prompt must be a ToRA prompt (``<|user|>\\n{question}\\n<|assistant|>\\n`` plus
    the trajectory so far); the reply is the recorded model text of the next round
    (the number of output blocks so far says which).  Unknown questions raise.
    """

    trajectories: dict[str, str]
    """Recorded trajectory for each question."""

    @property
    def _llm_type(self) -> str:
        return "tora-replay"

    def _reply(self, prompt: str) -> str:
        try:
            question, so_far = split_tora_prompt(prompt)
        except ValueError:
            raise ValueError("ReplayLLM needs ToRA-format prompts (prompt='tora')") from None
        if question not in self.trajectories:
            raise KeyError(f"no recorded trajectory for question {question[:80]!r}")
        rounds = model_rounds(self.trajectories[question])
        k = so_far.count(OUTPUT_FENCE)
        return rounds[k] if k < len(rounds) else ""

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=self._reply(p))] for p in prompts])


@dataclass
class ReplayReport:
    """What a replay found."""

    rows: int = 0
    executions: int = 0
    recorded_executions: int = 0
    matched: int = 0
    correct_compatible: int = 0
    correct_strict: int = 0
    seconds: float = 0.0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def match_rate(self) -> float:
        return self.matched / self.recorded_executions if self.recorded_executions else 1.0

    @property
    def accuracy_compatible(self) -> float:
        return 100.0 * self.correct_compatible / self.rows if self.rows else 0.0

    @property
    def accuracy_strict(self) -> float:
        return 100.0 * self.correct_strict / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            match_rate=self.match_rate,
            accuracy_compatible=self.accuracy_compatible,
            accuracy_strict=self.accuracy_strict,
        )
        return out

    def summary(self) -> str:
        return (
            f"rows: {self.rows}\n"
            f"executions reproduced exactly: {self.matched}/{self.recorded_executions} "
            f"({100 * self.match_rate:.2f}%)\n"
            f"accuracy (ToRA-compatible grading): {self.accuracy_compatible:.1f}\n"
            f"accuracy (strict grading): {self.accuracy_strict:.1f}\n"
            f"time: {self.seconds:.1f} s"
        )


def load_records(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Read released ToRA output rows (``question``, ``gt``, ``code``: [trajectory])."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("code"), list) or not row["code"] or "question" not in row:
                raise ValueError(
                    f"{path}:{number}: not a ToRA output row (needs 'question' and 'code': [trajectory])"
                )
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return rows


def _recorded_outputs(trajectory: str) -> list[str]:
    return [
        trajectory[s.body_start : s.body_end] for s in segments(trajectory) if s.kind == "output"
    ]


def replay(
    rows: Iterable[dict[str, Any]],
    interpreter: BaseInterpreter | None = None,
    *,
    output_style: OutputStyle = "2023-10",
    batch_size: int = 256,
    progress: bool = False,
) -> ReplayReport:
    """Re-run recorded trajectories through :class:`~langchain_tora.ToRAChain` and grade them.

    Each recorded output block is compared byte for byte with what the interpreter
    shows now; each chain answer is graded against the row's ``gt`` in both grading
    modes.
    """
    from langchain_tora.chain import ToRAChain

    rows = list(rows)
    report = ReplayReport(rows=len(rows))
    own = interpreter is None
    interpreter = interpreter or LocalInterpreter()
    llm = ReplayLLM(trajectories={r["question"]: r["code"][0] for r in rows})
    chain = ToRAChain(llm=llm, interpreter=interpreter, prompt="tora", output_style=output_style)
    start = time.perf_counter()
    bar = tqdm(total=len(rows), desc="replay", unit="problem", disable=not progress)
    try:
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            outs = chain.batch([r["question"] for r in chunk])
            for row, out in zip(chunk, outs, strict=True):
                recorded = _recorded_outputs(row["code"][0])
                ours = [s["output"] for s in out["steps"] if s["output"] is not None]
                report.executions += len(ours)
                report.recorded_executions += len(recorded)
                for k, expected in enumerate(recorded):
                    got = ours[k] if k < len(ours) else None
                    if got == expected:
                        report.matched += 1
                    else:
                        report.mismatches.append(
                            {
                                "idx": row.get("idx"),
                                "round": k,
                                "recorded": expected,
                                "replayed": got,
                            }
                        )
                gold = str(row.get("gt", ""))
                report.correct_compatible += math_equal(out["answer"], gold, tora_compatible=True)
                report.correct_strict += math_equal(out["answer"], gold)
            bar.update(len(chunk))
    finally:
        bar.close()
        if own:
            interpreter.close()
    report.seconds = time.perf_counter() - start
    return report
