"""Output-space shaping (ToRA, Sec. 2.4): sample, keep the valid, correct the invalid.

An imitation-learned model has seen one (or a few) trajectories per training problem.
Shaping widens that: the model samples many trajectories per problem; the **valid**
ones (correct answer, no execution error or timeout: :func:`train.synthesize.is_valid`)
with distinct code are kept; the **invalid** ones are cut at a line boundary where the
reasoning was still sound and a teacher model continues them (:func:`continue_from`),
and the continuations that become valid are kept too.  Up to four trajectories per
problem from these pools are merged with the original corpus, and the model is trained
again on the result.  (The paper sampled 64 trajectories per problem with nucleus
sampling and reports about 233k distinct valid sampled and 69k corrected trajectories.)

Read top to bottom: deduplication and cut points, continuing a prefix with a teacher,
one shard of the sampling run, the deterministic merge, the command line.

The run is split in shards by problem index (``--shard i/n`` takes the problems whose
index is ``i`` modulo ``n``), so that many GPUs or machines share it.  Each shard
appends one row per problem to ``DIR/shards/shard-i-of-n.jsonl`` as it finishes and
resumes from it; ``merge`` reads every shard file and writes the shaped corpora,
sorted by problem index and then trajectory text, byte-identical whatever the order
in which the shards ran or are listed::

    DIR/manifest.json                      what the run samples (problems, samples, cut...)
    DIR/shards/shard-0000-of-0008.jsonl    per problem: valid sampled and corrected pools
    DIR/corpus+sampled.jsonl               corpus + up to KEEP sampled per problem
    DIR/corpus+sampled+corrected.jsonl     corpus + up to KEEP from both pools
    DIR/report.json, DIR/report.md         problems covered, valid sampled, corrected, kept

Command line::

    python -m train.shape run --model runs/tora-code-7b/final --data gsm8k,math \\
        --output runs/shaping --shard 0/8 --samples 64 --temperature 0.6 --top-p 0.95 \\
        --teacher vllm:http://localhost:8001/v1@llm-agents/tora-code-34b-v1.0
    python -m train.shape merge --output runs/shaping --corpus data/tora_corpus.jsonl --keep 4

Example (the building blocks):
    >>> t = "Add.\\n```python\\nprint(1 + 2)\\n```\\n```output\\n3\\n```\\nSo $\\\\boxed{4}$."
    >>> limit = correction_limit(t, [{"execution": {"error": None, "timed_out": False}}])
    >>> t[:limit]      # the answer is wrong: the prefix may run up to the final line
    'Add.\\n```python\\nprint(1 + 2)\\n```\\n```output\\n3\\n```\\n'
    >>> cut_candidates(t, limit)
    [0, 5, 15, 28, 48]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_tora.datasets.benchmarks import Problem
from langchain_tora.evaluation import read_rows
from langchain_tora.grading import extract_answer
from langchain_tora.interpreters import BaseInterpreter, OutputStyle, render_execution
from langchain_tora.prompts import PromptFormat, get_prompt_format
from langchain_tora.trajectory import MAX_CALLS_NOTE, PYTHON_FENCE, Segment, cut_round, segments
from train.synthesize import (
    code_signature,
    corpus_record,
    is_valid,
    load_training_problems,
    sampling_copy,
)

__all__ = [
    "VARIANTS",
    "CutMode",
    "choose_cut",
    "continue_from",
    "correction_limit",
    "cut_candidates",
    "local_llm",
    "merge",
    "parse_shard",
    "select",
    "shape_shard",
    "shard_file",
]

CutMode = Literal["random", "first-error"]
"""Where an invalid trajectory is cut before the teacher continues it.

* ``random``: a line boundary drawn uniformly up to :func:`correction_limit` (the
  paper samples the prefix at random);
* ``first-error``: exactly at the limit, the longest prefix that is still sound.
"""

VARIANTS: dict[str, tuple[str, ...]] = {
    "corpus+sampled": ("sampled",),
    "corpus+sampled+corrected": ("sampled", "corrected"),
}
"""The shaped corpora ``merge`` writes: their name and the pools they draw from."""

SHARDS_DIR = "shards"
MANIFEST_FILE = "manifest.json"


# --------------------------------------------------------------------------- cut points


def _failed(step: Mapping[str, Any]) -> bool:
    execution = step.get("execution") or {}
    return bool(execution.get("error")) or bool(execution.get("timed_out"))


def _block_line(trajectory: str, outputs: Sequence[Segment], n: int) -> int:
    """The start of the line that opens the python block of round ``n`` (0-based)."""
    round_start = outputs[n - 1].end if n else 0
    fence = trajectory.rfind(PYTHON_FENCE, round_start, outputs[n].start)
    return round_start if fence < 0 else trajectory.rfind("\n", 0, fence) + 1


def correction_limit(
    trajectory: str, steps: Sequence[Mapping[str, Any]], max_tool_calls: int = 4
) -> int:
    """The end of the longest prefix of an invalid trajectory that is still sound.

    When an execution failed (an error or a timeout), the prefix ends at the start of
    the line that opens the python block of that round (the program that failed is
    the round's last block).  Otherwise the answer is wrong or missing, and the prefix
    ends at the start of the line with the last ``\\boxed`` (or before the tool-call
    limit note, or at the end).  A prefix never holds ``max_tool_calls`` executions:
    the loop would have stopped there, so the last one is left to the teacher.

    Example:
        >>> t = "Hm.\\n```python\\nprint(x)\\n```\\n```output\\nNameError\\n```\\nSo $\\\\boxed{1}$."
        >>> t[: correction_limit(t, [{"execution": {"error": "NameError"}}])]
        'Hm.\\n'
    """
    outputs = [s for s in segments(trajectory) if s.kind == "output"]
    executed = [s for s in steps if s.get("execution") is not None]
    failed = [n for n, step in enumerate(executed[: len(outputs)]) if _failed(step)]
    if failed:
        limit = _block_line(trajectory, outputs, failed[0])
    else:
        limit = len(trajectory)
        if trajectory.endswith(MAX_CALLS_NOTE):
            limit -= len(MAX_CALLS_NOTE)
        box = trajectory.rfind("\\boxed", 0, limit)
        if box >= 0:
            limit = trajectory.rfind("\n", 0, box) + 1
    if max_tool_calls >= 1 and len(outputs) >= max_tool_calls:
        limit = min(limit, _block_line(trajectory, outputs, max_tool_calls - 1))
    return limit


def cut_candidates(trajectory: str, limit: int) -> list[int]:
    """Line boundaries at or before ``limit`` that are not inside an output block.

    A prefix never ends inside (or right before) an interpreter output: the teacher
    would then be writing the interpreter's answer.  0 (no prefix) is always one.
    """
    outputs = [(s.start, s.end) for s in segments(trajectory) if s.kind == "output"]
    return [
        p
        for p in range(0, min(limit, len(trajectory)) + 1)
        if (p == 0 or trajectory[p - 1] == "\n") and not any(a <= p < b for a, b in outputs)
    ]


def choose_cut(
    trajectory: str,
    steps: Sequence[Mapping[str, Any]],
    rng: random.Random,
    mode: CutMode,
    max_tool_calls: int = 4,
) -> int:
    """Where to cut an invalid trajectory (see :data:`CutMode`)."""
    limit = correction_limit(trajectory, steps, max_tool_calls)
    candidates = cut_candidates(trajectory, limit)
    if mode == "first-error":
        return candidates[-1]
    if mode == "random":
        return rng.choice(candidates)
    raise ValueError(f"unknown cut mode {mode!r}: use 'random' or 'first-error'")


# --------------------------------------------------------------------------- continuing a prefix


@dataclass
class _Draft:
    """One trajectory being continued by the teacher."""

    question: str
    text: str
    prefix_chars: int
    round_start: int
    tool_calls: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    error: BaseException | None = None
    pending: str | None = None
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def running(self) -> bool:
        return self.stop_reason is None and self.error is None

    def result(self) -> dict[str, Any] | BaseException:
        if self.error is not None:
            return self.error
        return {
            "answer": extract_answer(self.text),
            "trajectory": self.text,
            "steps": self.steps,
            "tool_calls": self.tool_calls,
            "stop_reason": self.stop_reason,
            "prefix_chars": self.prefix_chars,
            "usage": {
                "model_calls": self.model_calls,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
            },
        }


def _start_draft(question: str, prefix: str) -> _Draft:
    outputs = [s for s in segments(prefix) if s.kind == "output"]
    return _Draft(
        question=question,
        text=prefix,
        prefix_chars=len(prefix),
        round_start=outputs[-1].end if outputs else 0,
        tool_calls=len(outputs),
    )


def _generate(llm: BaseLLM, prompts: list[str], kwargs: dict[str, Any]) -> list[Any]:
    """One batched call; when it fails, each prompt alone (one bad prompt fails alone)."""
    try:
        return [gens[0] if gens else None for gens in llm.generate(prompts, **kwargs).generations]
    except Exception:
        if len(prompts) == 1:
            raise
    results: list[Any] = []
    for prompt in prompts:
        try:
            results.extend(_generate(llm, [prompt], kwargs))
        except Exception as error:
            results.append(error)
    return results


def continue_from(
    teacher: BaseLLM,
    items: Sequence[tuple[str, str]],
    interpreter: BaseInterpreter,
    *,
    max_tool_calls: int = 4,
    max_tokens_per_round: int | None = 1024,
    output_style: OutputStyle = "2023-10",
    prompt: str | PromptFormat = "tora",
) -> list[dict[str, Any] | BaseException]:
    """Let a completion model continue trajectory prefixes, with the ToRA loop's rules.

    Each item is ``(question, prefix)``; the model sees the format's completion prompt
    (``<|user|>\\n{question}\\n<|assistant|>\\n``) followed by the prefix and continues
    it round-synchronously, as :class:`~langchain_tora.chain.ToRAChain` would: one
    batched call per round, the round cut after its first closed python block, the
    round's last block run (stateless) when the round has no ``boxed``, the output
    block appended, at most ``max_tool_calls`` executions counting the prefix's own.
    A prefix may end anywhere outside an output block, also inside a python block: the
    round's text is the prefix's unfinished round plus the continuation.

    Returns, per item, a dict like the chain's output (``trajectory`` is the prefix
    plus the continuation, ``steps`` only the continuation's rounds, ``prefix_chars``
    the prefix length), or the exception of a model call that failed.

    Example:
        >>> outs = continue_from(teacher_llm, [(question, "Let's compute.\\n")], python)  # doctest: +SKIP
        >>> outs[0]["trajectory"].startswith("Let's compute.\\n```python")  # doctest: +SKIP
        True
    """
    if isinstance(teacher, BaseChatModel) or not isinstance(teacher, BaseLLM):
        raise TypeError(
            "correcting continues a text prefix, so the teacher must be a completion model "
            f"(a ToRA checkpoint: BaseLLM), not {type(teacher).__name__}"
        )
    fmt = get_prompt_format(prompt)
    kwargs: dict[str, Any] = {"stop": list(fmt.stop)}
    if max_tokens_per_round is not None:
        for name in ("max_tokens", "max_new_tokens", "max_output_tokens"):
            if name in type(teacher).model_fields:
                kwargs[name] = max_tokens_per_round
                break
    drafts = [_start_draft(question, prefix) for question, prefix in items]

    while active := [d for d in drafts if d.running]:
        # The model round: one batched call for every draft still running.
        prompts = [fmt.completion_prompt(d.question) + d.text for d in active]
        to_run: list[_Draft] = []
        for d, generation in zip(active, _generate(teacher, prompts, kwargs), strict=True):
            if isinstance(generation, BaseException):
                d.error = generation
                continue
            d.model_calls += 1
            info = (generation.generation_info or {}) if generation is not None else {}
            d.input_tokens += int(info.get("prompt_tokens") or 0)
            d.output_tokens += int(info.get("completion_tokens") or 0)
            new = generation.text if generation is not None else ""
            if not cut_round(new, fmt.stop).strip():
                d.stop_reason = "empty_generation"
                continue
            round_text = cut_round(d.text[d.round_start :] + new, fmt.stop)
            d.text = d.text[: d.round_start] + round_text
            code = fmt.program(round_text) if d.tool_calls < max_tool_calls else None
            if code is None:
                d.steps.append(
                    {"text": round_text, "code": None, "output": None, "execution": None}
                )
                d.stop_reason = "answer"
            else:
                d.pending = code
                to_run.append(d)
        # The execution round: every program of the round at once.
        if to_run:
            executions = interpreter.run_batch([d.pending or "" for d in to_run])
            for d, execution in zip(to_run, executions, strict=True):
                rendered = render_execution(execution, output_style)
                round_text = d.text[d.round_start :]
                d.text += fmt.observation(rendered)
                d.round_start = len(d.text)
                d.tool_calls += 1
                d.steps.append(
                    {
                        "text": round_text,
                        "code": d.pending,
                        "output": rendered,
                        "execution": execution.to_dict(),
                    }
                )
                d.pending = None
                if d.tool_calls >= max_tool_calls:
                    d.text += MAX_CALLS_NOTE
                    d.stop_reason = "max_tool_calls"
    return [d.result() for d in drafts]


# --------------------------------------------------------------------------- one shard


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)``.

    Example:
        >>> parse_shard("3/8")
        (3, 8)
    """
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or not 0 <= i < n:
        raise ValueError(f"--shard takes i/n with 0 <= i < n, e.g. 0/8; got {text!r}")
    return i, n


def shard_file(output_dir: str | Path, shard: tuple[int, int]) -> Path:
    """Where shard ``i/n`` writes its rows."""
    i, n = shard
    return Path(output_dir) / SHARDS_DIR / f"shard-{i:04d}-of-{n:04d}.jsonl"


def _digest(problems: Sequence[Problem]) -> str:
    text = "\n".join(f"{p.id}\t{p.question}\t{p.gold}" for p in problems)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_manifest(output_dir: Path, manifest: Mapping[str, Any]) -> None:
    """Record what the run samples; a shard joining a directory must agree on the problems."""
    path = output_dir / MANIFEST_FILE
    if path.exists():
        known = json.loads(path.read_text())
        if known.get("problems_digest") != manifest["problems_digest"]:
            raise ValueError(
                f"{path} is for other problems ({known.get('problems')} of them; this run has "
                f"{manifest['problems']}): use the same --data/--limit or another --output"
            )
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(manifest), indent=2) + "\n")
    os.replace(tmp, path)


def _tokens(outputs: Sequence[Any]) -> dict[str, int]:
    total = {"model_calls": 0, "input_tokens": 0, "output_tokens": 0}
    for out in outputs:
        if isinstance(out, Mapping):
            usage = out.get("usage") or {}
            for key in total:
                total[key] += int(usage.get(key) or 0)
    return total


def shape_shard(
    problems: Sequence[Problem],
    sampler: Runnable[Any, Any],
    teacher: BaseLLM | None,
    interpreter: BaseInterpreter,
    output_dir: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    samples: int = 64,
    max_corrections: int | None = None,
    cut: CutMode = "random",
    seed: int = 0,
    batch_size: int = 8,
    config: RunnableConfig | None = None,
    max_tool_calls: int = 4,
    max_tokens_per_round: int | None = 1024,
    tora_compatible: bool = False,
    manifest: Mapping[str, Any] | None = None,
    on_problem: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool = True,
) -> Path:
    """Sample and correct the problems of one shard, one row per problem (resumable).

    ``problems`` is the whole problem list (a problem's index is its position); this
    shard takes the indices ``i`` modulo ``n`` not yet in its file.  For each chunk
    of ``batch_size`` problems:

    1. ``sampler.batch`` of every question repeated ``samples`` times (one
       round-synchronous loop over chunk x samples trajectories; ``sampler`` is a
       :class:`~langchain_tora.chain.ToRAChain` over the imitation model with nucleus
       sampling);
    2. the valid samples are kept, one per distinct :func:`code_signature`;
    3. up to ``max_corrections`` invalid samples per problem (all by default) are cut
       (:func:`choose_cut`, seeded by ``seed``, the problem index and the sample) and
       continued by ``teacher`` (:func:`continue_from`, all of the chunk in one
       batch); the valid continuations are kept, one per distinct signature;
    4. each problem's row is appended and flushed; ``on_problem(index, row)`` is called.
       A problem whose every sample failed (exceptions) gets no row and a warning, so
       that running the shard again retries it.

    Returns the shard file.
    """
    i, n = shard
    out = Path(output_dir)
    path = shard_file(out, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_manifest(
        out,
        {
            "problems": len(problems),
            "problems_digest": _digest(problems),
            "samples": samples,
            "cut": cut,
            "seed": seed,
            "max_corrections": max_corrections,
            **(manifest or {}),
        },
    )
    done = {row["index"] for row in read_rows(path, repair=True)}
    todo = [k for k in range(i, len(problems), n) if k not in done]
    if progress:
        print(f"shape {i}/{n}: {len(done)} problems done, {len(todo)} to go", file=sys.stderr)

    failures: list[int] = []
    with path.open("a", encoding="utf-8") as sink:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            began = time.perf_counter()
            # 1. Sample: every question of the chunk, `samples` times, in one batch.
            questions = [problems[k].question for k in chunk for _ in range(samples)]
            outputs = sampler.batch(questions, config, return_exceptions=True)
            per_problem = {k: outputs[j * samples : (j + 1) * samples] for j, k in enumerate(chunk)}

            # 2. Keep the valid ones; pick the invalid ones to correct and cut them.
            rows: dict[int, dict[str, Any]] = {}
            to_correct: list[tuple[int, int, int]] = []  # (problem index, sample, cut)
            items: list[tuple[str, str]] = []
            for k in chunk:
                problem, outs = problems[k], per_problem[k]
                verdicts = [
                    is_valid(o, problem.gold, tora_compatible=tora_compatible) for o in outs
                ]
                invalid = [
                    j for j, o in enumerate(outs) if not verdicts[j] and isinstance(o, Mapping)
                ]
                if teacher is None:
                    invalid = []
                elif max_corrections is not None:
                    invalid = invalid[:max_corrections]
                for j in invalid:
                    rng = random.Random(f"{seed}/{k}/{j}")
                    c = choose_cut(
                        outs[j]["trajectory"], outs[j]["steps"], rng, cut, max_tool_calls
                    )
                    to_correct.append((k, j, c))
                    items.append((problem.question, outs[j]["trajectory"][:c]))
                rows[k] = _row(k, problem, outs, verdicts)
                rows[k]["corrections"] = len(invalid)

            # 3. Correct: the teacher continues every cut prefix of the chunk in one batch.
            if items and teacher is not None:
                continued = continue_from(
                    teacher,
                    items,
                    interpreter,
                    max_tool_calls=max_tool_calls,
                    max_tokens_per_round=max_tokens_per_round,
                )
                fixed: dict[int, list[dict[str, Any]]] = {k: [] for k in chunk}
                for (k, j, c), result in zip(to_correct, continued, strict=True):
                    usage = _tokens([result])
                    for key, value in usage.items():
                        rows[k]["teacher_usage"][key] += value
                    if is_valid(result, problems[k].gold, tora_compatible=tora_compatible):
                        fixed[k].append({"trajectory": result["trajectory"], "sample": j, "cut": c})
                for k in chunk:
                    rows[k]["corrected"] = _distinct(fixed[k])

            # 4. Write each problem's row (not when every sample failed: retried next run).
            share = round((time.perf_counter() - began) / len(chunk), 4)
            for k in chunk:
                if rows[k]["errors"] == rows[k]["samples"] > 0:
                    failures.append(k)
                    continue
                rows[k]["seconds"] = share
                sink.write(json.dumps(rows[k], ensure_ascii=False) + "\n")
                sink.flush()
                if on_problem is not None:
                    on_problem(k, rows[k])
            if progress:
                done.update(k for k in chunk if k not in failures)
                print(f"shape {i}/{n}: {len(done)} problems done", file=sys.stderr)
    if failures:
        warnings.warn(
            f"shard {i}/{n}: every sample failed for problems {failures[:10]}; run it again "
            "to retry them",
            UserWarning,
            stacklevel=2,
        )
    return path


def _row(k: int, problem: Problem, outs: Sequence[Any], verdicts: Sequence[bool]) -> dict[str, Any]:
    """A problem's shard row before correction: counts and the distinct valid samples."""
    return {
        "index": k,
        "id": problem.id,
        "dataset": problem.dataset,
        "question": problem.question,
        "gold": problem.gold,
        "samples": len(outs),
        "valid": sum(verdicts),
        "invalid": sum(
            not v and isinstance(o, Mapping) for v, o in zip(verdicts, outs, strict=True)
        ),
        "errors": sum(isinstance(o, BaseException) for o in outs),
        "sampled": _distinct(
            {"trajectory": o["trajectory"], "sample": j} for j, o in enumerate(outs) if verdicts[j]
        ),
        "corrections": 0,
        "corrected": [],
        "sampler_usage": _tokens(outs),
        "teacher_usage": _tokens([]),
    }


def _distinct(items: Any) -> list[dict[str, Any]]:
    """The items with a code signature not seen before, in order."""
    seen: set[tuple[str, ...]] = set()
    kept = []
    for item in items:
        signature = code_signature(item["trajectory"])
        if signature not in seen:
            seen.add(signature)
            kept.append(item)
    return kept


# --------------------------------------------------------------------------- merge


def _shard_rows(output_dir: Path) -> list[dict[str, Any]]:
    """Every row of every shard file, checked for duplicates, sorted by problem index."""
    owner: dict[int, str] = {}
    rows: dict[int, dict[str, Any]] = {}
    for path in sorted((output_dir / SHARDS_DIR).glob("*.jsonl")):
        for row in read_rows(path):
            k = row["index"]
            if k in owner:
                raise ValueError(
                    f"problem {k} is in both {owner[k]} and {path.name}: shards of different "
                    "--shard splits were mixed; keep one split's files"
                )
            owner[k] = path.name
            rows[k] = row
    return [rows[k] for k in sorted(rows)]


def _pool(row: Mapping[str, Any], sources: Sequence[str]) -> list[tuple[str, str]]:
    """(source, trajectory) of the row's pools, distinct by code signature, in pool order."""
    pool: list[tuple[str, str]] = []
    seen: set[tuple[str, ...]] = set()
    for source in sources:
        for item in row.get(source) or []:
            signature = code_signature(item["trajectory"])
            if signature not in seen:
                seen.add(signature)
                pool.append((source, item["trajectory"]))
    return pool


def select(
    row: Mapping[str, Any], sources: Sequence[str], keep: int, seed: int
) -> list[tuple[str, str]]:
    """Up to ``keep`` (source, trajectory) of a problem, drawn at random (seeded by the
    problem index), sorted by trajectory text: the same whatever the shard layout."""
    pool = _pool(row, sources)
    if len(pool) > keep:
        pool = random.Random(f"{seed}/{row['index']}").sample(pool, keep)
    return sorted(pool, key=lambda item: (item[1], item[0]))


def _report_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(r.get(key) or 0) for r in rows)

    def usage(key: str) -> dict[str, int]:
        keys = ("model_calls", "input_tokens", "output_tokens")
        return {k: sum(int((r.get(key) or {}).get(k) or 0) for r in rows) for k in keys}

    return {
        "problems": len(rows),
        "samples": total("samples"),
        "valid_sampled": total("valid"),
        "distinct_valid_sampled": sum(len(r.get("sampled") or []) for r in rows),
        "problems_with_valid_sample": sum(bool(r.get("sampled")) for r in rows),
        "invalid_sampled": total("invalid"),
        "errors": total("errors"),
        "corrections_tried": total("corrections"),
        "corrected": sum(len(r.get("corrected") or []) for r in rows),
        "problems_with_correction": sum(bool(r.get("corrected")) for r in rows),
        "sampler_usage": usage("sampler_usage"),
        "teacher_usage": usage("teacher_usage"),
    }


def merge(
    output_dir: str | Path,
    *,
    corpus: str | Path | None = None,
    keep: int = 4,
    seed: int = 0,
    variants: Mapping[str, Sequence[str]] = VARIANTS,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Merge the shards into the shaped corpora and the report; returns the report.

    Each variant file holds the original ``corpus`` records (as they are; default: the
    manifest's ``corpus``, if any) followed by up to ``keep`` trajectories per problem
    from the variant's pools (:func:`select`), sorted by problem index, then
    trajectory.  Missing problems (a shard not run or not finished) stop the merge
    unless ``allow_partial``.

    Example:
        >>> report = merge("runs/shaping", corpus="data/tora_corpus.jsonl")  # doctest: +SKIP
        >>> report["variants"]["corpus+sampled+corrected"]["kept"]  # doctest: +SKIP
        69000
    """
    out = Path(output_dir)
    manifest_path = out / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    rows = _shard_rows(out)
    expected = manifest.get("problems")
    missing = (
        sorted(set(range(expected)) - {r["index"] for r in rows}) if expected is not None else []
    )
    if missing and not allow_partial:
        raise ValueError(
            f"{len(missing)} of {expected} problems have no row yet (first: {missing[:5]}): "
            "run or finish the missing shards, or merge with --allow-partial"
        )
    if missing:
        warnings.warn(f"merging without {len(missing)} problems", UserWarning, stacklevel=2)
    corpus = corpus if corpus is not None else manifest.get("corpus")
    base = read_rows(corpus) if corpus else []

    report: dict[str, Any] = {
        "manifest": manifest,
        "corpus": str(corpus) if corpus else None,
        "corpus_records": len(base),
        "keep": keep,
        "missing": len(missing),
        **_report_counts(rows),
        "datasets": {},
        "variants": {},
        "paper": {"samples": 64, "valid_sampled": "233k", "corrected": "69k", "keep": 4},
    }
    for dataset in sorted({r["dataset"] for r in rows}):
        report["datasets"][dataset] = _report_counts([r for r in rows if r["dataset"] == dataset])

    for name, sources in variants.items():
        records = []
        covered = 0
        for row in rows:
            chosen = select(row, sources, keep, seed)
            covered += bool(chosen)
            problem = Problem(row["id"], row["dataset"], row["question"], row["gold"])
            for k, (source, trajectory) in enumerate(chosen):
                records.append(
                    {
                        **corpus_record(problem, trajectory, source=source, k=k),
                        "index": row["index"],
                    }
                )
        path = out / f"{name}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as sink:
            for record in [*base, *records]:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        report["variants"][name] = {
            "file": path.name,
            "sources": list(sources),
            "kept": len(records),
            "problems_covered": covered,
            "records": len(base) + len(records),
        }

    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_report_markdown(report))
    return report


def _report_markdown(report: Mapping[str, Any]) -> str:
    lines = [
        "| problems | samples | valid sampled (distinct) | corrections tried | corrected | missing |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {report['problems']} | {report['samples']} | {report['valid_sampled']} "
        f"({report['distinct_valid_sampled']}) | {report['corrections_tried']} | "
        f"{report['corrected']} | {report['missing']} |",
        "",
        f"| shaped corpus | kept (up to {report['keep']} per problem) | problems covered | records with the corpus |",
        "| --- | --- | --- | --- |",
    ]
    for name, v in report["variants"].items():
        lines.append(f"| {name} | {v['kept']} | {v['problems_covered']} | {v['records']} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- models


def local_llm(
    model: str,
    *,
    backend: Literal["auto", "vllm", "transformers"] = "auto",
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    max_tokens: int = 1024,
    device: str = "auto",
    batch_size: int = 64,
) -> BaseLLM:
    """A batched completion LLM for a ToRA checkpoint: vLLM's engine when it is installed
    and a GPU is there (``auto``), transformers otherwise; ``vllm:URL@MODEL`` is a served model.

    Example:
        >>> llm = local_llm("tiny-tora", backend="transformers", device="cpu")  # doctest: +SKIP
    """
    from langchain_tora.vllm import is_vllm_spec, llm_from_spec

    sampling = {"temperature": temperature, "top_p": top_p, "seed": seed}
    if is_vllm_spec(model):
        return llm_from_spec(model, max_tokens=max_tokens, **sampling)
    from langchain_tora.models import resolve_local_model

    path = resolve_local_model(model)
    if backend == "auto":
        backend = "vllm" if importlib.util.find_spec("vllm") and _has_cuda() else "transformers"
    if backend == "vllm":
        from langchain_tora.vllm import VLLMEngineLLM

        return VLLMEngineLLM(model=path, max_tokens=max_tokens, **sampling)
    if backend != "transformers":
        raise ValueError(f"unknown backend {backend!r}: use auto, vllm or transformers")
    from langchain_tora.local_llm import TransformersLLM

    return TransformersLLM(
        model_id=path, device=device, max_tokens=max_tokens, batch_size=batch_size, **sampling
    )


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train.shape",
        description="Output-space shaping: sample trajectories from an imitation-learned model, "
        "keep the valid ones, let a teacher correct the invalid ones (run, per shard), then "
        "merge the shards into shaped corpora (merge).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="sample and correct one shard of the problems")
    run.add_argument("--model", required=True, help="the imitation-learned model (folder, Hub id)")
    run.add_argument("--data", required=True, help="gsm8k, math or jsonl files, comma-separated")
    run.add_argument("--data-dir", default=None, help="default: $TORA_DATA_DIR")
    run.add_argument("--limit", type=int, default=None, help="first N problems of each set")
    run.add_argument("--output", required=True, metavar="DIR")
    run.add_argument("--shard", default="0/1", help="i/n: problems whose index is i mod n")
    run.add_argument("--samples", type=int, default=64, help="trajectories per problem")
    run.add_argument("--temperature", type=float, default=0.6)
    run.add_argument("--top-p", type=float, default=0.95)
    run.add_argument("--seed", type=int, default=0, help="seeds the cut points (and sampling)")
    run.add_argument(
        "--teacher",
        default="same",
        help="completion model that corrects: a folder, Hub id, vllm:URL@MODEL; "
        "'same' (the model itself, greedy) or 'none' (no correction)",
    )
    run.add_argument("--cut", choices=["random", "first-error"], default="random")
    run.add_argument("--max-corrections", type=int, default=None, help="per problem (default all)")
    run.add_argument("--backend", choices=["auto", "vllm", "transformers"], default="auto")
    run.add_argument("--device", default="auto", help="transformers backend: cpu, cuda, auto")
    run.add_argument("--threads", type=int, default=None, help="torch threads on CPU")
    run.add_argument("--batch-size", type=int, default=8, help="problems per sampling batch")
    run.add_argument("--max-tokens", type=int, default=1024, help="tokens per round")
    run.add_argument("--max-tool-calls", type=int, default=4)
    run.add_argument("--timeout", type=float, default=5.0, help="seconds per execution")
    run.add_argument("--corpus", default=None, help="the imitation corpus (recorded for merge)")
    run.add_argument("--tora-compatible", action="store_true")
    run.add_argument("--quiet", action="store_true")
    mrg = sub.add_parser("merge", help="merge the shards into the shaped corpora and the report")
    mrg.add_argument("--output", required=True, metavar="DIR")
    mrg.add_argument("--corpus", default=None, help="the imitation corpus (default: manifest's)")
    mrg.add_argument("--keep", type=int, default=4, help="trajectories per problem")
    mrg.add_argument("--seed", type=int, default=0, help="seeds which ones are kept")
    mrg.add_argument("--allow-partial", action="store_true", help="merge with problems missing")
    return parser


def _run(args: argparse.Namespace) -> int:
    from langchain_tora.chain import ToRAChain
    from langchain_tora.interpreters import LocalInterpreter

    if args.threads:  # a busy CPU slows down many-fold when threads outnumber free cores
        import torch

        torch.set_num_threads(args.threads)
    problems = load_training_problems(args.data, data_dir=args.data_dir, limit=args.limit)
    options = {"backend": args.backend, "device": args.device, "max_tokens": args.max_tokens}
    sampler_llm = local_llm(
        args.model, temperature=args.temperature, top_p=args.top_p, seed=None, **options
    )
    if args.teacher == "none":
        teacher = None
    elif args.teacher == "same":  # the model itself, greedy, sharing the loaded weights
        teacher = sampling_copy(sampler_llm, temperature=0.0, top_p=1.0)
    else:
        teacher = local_llm(args.teacher, **options)
    with LocalInterpreter(timeout=args.timeout) as python:
        sampler = ToRAChain(
            llm=sampler_llm,
            interpreter=python,
            prompt="tora",
            max_tool_calls=args.max_tool_calls,
            max_tokens_per_round=args.max_tokens,
        )
        path = shape_shard(
            problems,
            sampler,
            teacher,
            python,
            args.output,
            shard=parse_shard(args.shard),
            samples=args.samples,
            max_corrections=args.max_corrections,
            cut=args.cut,
            seed=args.seed,
            batch_size=args.batch_size,
            max_tool_calls=args.max_tool_calls,
            max_tokens_per_round=args.max_tokens,
            tora_compatible=args.tora_compatible,
            manifest={
                "data": args.data,
                "limit": args.limit,
                "model": args.model,
                "teacher": args.teacher,
                "temperature": args.temperature,
                "top_p": args.top_p,
                "corpus": args.corpus,
            },
            progress=not args.quiet,
        )
    print(path)
    return 0


def _merge(args: argparse.Namespace) -> int:
    report = merge(
        args.output,
        corpus=args.corpus,
        keep=args.keep,
        seed=args.seed,
        allow_partial=args.allow_partial,
    )
    print(_report_markdown(report), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train.shape run|merge``: see the module docstring."""
    args = build_parser().parse_args(argv)
    return _run(args) if args.command == "run" else _merge(args)


if __name__ == "__main__":
    raise SystemExit(main())
