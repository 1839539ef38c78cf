"""Curate a ToRA corpus with a teacher model (the paper's trajectory curation).

ToRA (Gou et al., ICLR 2024, Sec. 2.2) built its training corpus by prompting GPT-4
with tool-integrated few-shot examples on the GSM8K and MATH training sets: greedy
decoding first; for the problems greedy decoding failed, nucleus sampling of several
trajectories, keeping up to four valid ones.  A trajectory is **valid** when its final
answer grades correct and none of its executions ended in an error or a timeout
(:func:`is_valid`).  The paper covered 98.2% of GSM8K and 83.1% of MATH this way.

This module does that with any LangChain model as the teacher (a chat model gets the
``chat`` few-shot prompt, ``chat:gsm8k`` / ``chat:math`` by dataset) and any problem
set (GSM8K or MATH train, or a jsonl file of questions and gold answers), writing as
it goes into ``--output DIR``::

    DIR/corpus.jsonl     ToRA records (``messages``: question, trajectory) for train.sft
    DIR/problems.jsonl   one ledger row per finished problem (what a rerun skips)
    DIR/report.json      coverage per dataset, teacher calls and tokens spent

A stopped run resumes: problems with a ledger row are not asked again; records of a
problem whose ledger row never got written (a kill between the two) are dropped and
the problem redone; a torn last line is tolerated.  At most one chunk of
``--batch-size`` problems is redone after a kill.

Command line::

    python -m train.synthesize --teacher openai:gpt-4o --data gsm8k,math --output runs/corpus \\
        --samples 10 --keep 4 --temperature 0.6 --top-p 0.95 --max-concurrency 8
    python -m train.synthesize --teacher llm-agents/tora-code-34b-v1.0 --data my.jsonl --limit 100 \\
        --output runs/corpus-34b

In Python:

    >>> from train.synthesize import is_valid
    >>> out = {"answer": "8", "stop_reason": "answer", "steps": [
    ...     {"text": "...", "code": "print(8)", "output": "8",
    ...      "execution": {"stdout": "8\\n", "error": None, "timed_out": False}}]}
    >>> is_valid(out, "8"), is_valid(out, "9")
    (True, False)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_tora.datasets import data_dir as default_data_dir
from langchain_tora.datasets.benchmarks import DATASETS, DatasetNotFoundError, Problem, number_text
from langchain_tora.evaluation import read_rows
from langchain_tora.grading import extract_answer, math_equal
from langchain_tora.trajectory import python_blocks

__all__ = [
    "TRAIN_FILES",
    "SynthesisStats",
    "code_signature",
    "corpus_record",
    "is_valid",
    "load_training_problems",
    "sampling_copy",
    "synthesize",
]

TRAIN_FILES = {"gsm8k": "train/gsm8k/train.jsonl", "math": "train/math/train.jsonl"}
"""The training sets by name, relative to ``$TORA_DATA_DIR``."""

CORPUS_FILE = "corpus.jsonl"
LEDGER_FILE = "problems.jsonl"
REPORT_FILE = "report.json"


# --------------------------------------------------------------------------- problems


def _problem_from_row(row: Mapping[str, Any], name: str, index: int) -> Problem:
    """A problem from a row of any jsonl of questions and gold answers.

    The question is ``question``, ``problem`` or ``input``; the gold answer is the part
    after ``####`` of a GSM8K ``answer``, the last ``\\boxed{}`` of a MATH ``solution``,
    else ``gold``, ``gt``, ``answer`` or ``target`` as text.
    """
    question = next((row[k] for k in ("question", "problem", "input") if row.get(k)), None)
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{name} row {index}: no 'question' (or 'problem'/'input') text")
    gold: str | None = None
    answer = row.get("answer")
    if isinstance(answer, str) and "####" in answer:
        gold = answer.rsplit("####", 1)[1].strip().replace(",", "")
    elif isinstance(row.get("solution"), str) and "boxed" in row["solution"]:
        gold = extract_answer(row["solution"])
    else:
        for key in ("gold", "gt", "answer", "target"):
            if row.get(key) is not None:
                value = row[key]
                gold = value if isinstance(value, str) else number_text(value) or str(value)
                break
    if not gold:
        raise ValueError(f"{name} row {index}: no gold answer (answer/gold/gt/target/solution)")
    return Problem(id=f"{name}-train/{index}", dataset=name, question=question, gold=gold)


def load_training_problems(
    data: str, *, data_dir: str | Path | None = None, limit: int | None = None
) -> list[Problem]:
    """Training problems from ``gsm8k``, ``math`` (under ``$TORA_DATA_DIR/train``) or jsonl files.

    ``data`` is comma-separated; ``limit`` applies to each part.  Ids are
    ``<dataset>-train/<row>``; a file's dataset name is its stem.  The position of a
    problem in the returned list is its *problem index* (shards and merges use it).

    Example:
        >>> problems = load_training_problems("gsm8k", limit=2)  # doctest: +SKIP
        >>> problems[0].id, problems[0].gold  # doctest: +SKIP
        ('gsm8k-train/0', '72')
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    problems: list[Problem] = []
    for part in (p.strip() for p in data.split(",") if p.strip()):
        named = part.lower() in TRAIN_FILES
        path = root / TRAIN_FILES[part.lower()] if named else Path(part).expanduser()
        if not path.is_file():
            raise DatasetNotFoundError(
                f"{path} does not exist: put the {part} training set there (jsonl) or set "
                "TORA_DATA_DIR / --data-dir"
                if named
                else f"{part}: not gsm8k, math or an existing jsonl file"
            )
        name = part.lower() if named else path.stem
        rows = read_rows(path)
        for i, row in enumerate(rows if limit is None else rows[:limit]):
            if named:  # the evaluation set's parser, with a training id
                problem = replace(DATASETS[name].parse_row(row, i), id=f"{name}-train/{i}")
            else:
                problem = _problem_from_row(row, name, i)
            problems.append(problem)
    return problems


# --------------------------------------------------------------------------- validity


def _execution_failed(step: Mapping[str, Any]) -> bool:
    execution = step.get("execution") or {}
    return bool(execution.get("error")) or bool(execution.get("timed_out"))


def is_valid(output: Any, gold: str, *, tora_compatible: bool = False) -> bool:
    """Whether a chain output is a valid trajectory for a problem with answer ``gold``.

    Valid: the chain finished with an answer (``stop_reason == "answer"``, so not cut
    by the tool-call limit), no execution ended in an error or a timeout, and the
    answer grades correct (:func:`~langchain_tora.grading.math_equal`, strict unless
    ``tora_compatible``).  A failed chain call (an exception) is never valid.
    """
    if isinstance(output, BaseException) or not isinstance(output, Mapping):
        return False
    if output.get("stop_reason") != "answer":
        return False
    if any(_execution_failed(step) for step in output.get("steps") or []):
        return False
    return math_equal(output.get("answer"), gold, tora_compatible=tora_compatible)


def _normalized_code(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        return " ".join(code.split())


def code_signature(trajectory: str) -> tuple[str, ...]:
    """What makes two trajectories the same for deduplication: their code blocks.

    The sequence of python blocks, each normalized to its syntax tree (comments,
    blank lines and spacing do not count) or, when it does not parse, to its text
    with whitespace collapsed.  The rationale around the code does not count either.

    Example:
        >>> a = "Add.\\n```python\\nprint(1 + 2)  # sum\\n```"
        >>> b = "We add them.\\n```python\\nprint(1+2)\\n```"
        >>> code_signature(a) == code_signature(b)
        True
    """
    return tuple(_normalized_code(code) for code in python_blocks(trajectory))


def corpus_record(problem: Problem, trajectory: str, *, source: str, k: int) -> dict[str, Any]:
    """A ToRA training record (``messages``) with where it came from.

    Example:
        >>> p = Problem(id="gsm8k-train/0", dataset="gsm8k", question="1+1?", gold="2")
        >>> r = corpus_record(p, "$\\\\boxed{2}$", source="greedy", k=0)
        >>> r["id"], [m["role"] for m in r["messages"]]
        ('gsm8k-train/0/greedy-0', ['user', 'assistant'])
    """
    return {
        "id": f"{problem.id}/{source}-{k}",
        "problem_id": problem.id,
        "dataset": problem.dataset,
        "gt": problem.gold,
        "source": source,
        "messages": [
            {"role": "user", "content": problem.question},
            {"role": "assistant", "content": trajectory},
        ],
    }


# --------------------------------------------------------------------------- teachers


def sampling_copy(llm: Any, *, temperature: float, top_p: float | None = None) -> Any:
    """The same model with nucleus sampling, sharing loaded weights (local models).

    Works for any LangChain model with a ``temperature`` field (chat models, OpenAI,
    :class:`~langchain_tora.local_llm.TransformersLLM`, the vLLM engine).

    Example:
        >>> from langchain_core.language_models import FakeListLLM
        >>> class Fake(FakeListLLM):
        ...     temperature: float = 0.0
        >>> sampling_copy(Fake(responses=["x"]), temperature=0.6).temperature
        0.6
    """
    if type(llm).__name__ == "TransformersLLM":
        llm.load()  # load once: the copy then shares the weights
    if type(llm).__name__ == "VLLMEngineLLM":
        _ = llm.engine  # build the engine once, shared by the copy
    fields = type(llm).model_fields
    if "temperature" not in fields:
        raise ValueError(
            f"{type(llm).__name__} has no temperature setting: pass a sampling teacher yourself"
        )
    update: dict[str, Any] = {"temperature": temperature}
    if top_p is not None and "top_p" in fields:
        update["top_p"] = top_p
    return llm.model_copy(update=update)


# --------------------------------------------------------------------------- the run


@dataclass
class SynthesisStats:
    """Coverage and cost of one dataset (from the ledger rows)."""

    dataset: str
    problems: int = 0
    covered: int = 0
    """Problems with at least one valid trajectory in the corpus."""
    greedy_valid: int = 0
    rescued_by_sampling: int = 0
    records: int = 0
    teacher_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    """Chain calls that failed (exceptions)."""
    seconds: float = 0.0
    coverage: float = field(init=False, default=0.0)

    def add(self, row: Mapping[str, Any]) -> None:
        self.problems += 1
        self.covered += row["kept"] > 0
        self.greedy_valid += bool(row["greedy_valid"])
        self.rescued_by_sampling += (not row["greedy_valid"]) and row["kept"] > 0
        self.records += row["kept"]
        self.teacher_calls += row["model_calls"]
        self.input_tokens += row["input_tokens"]
        self.output_tokens += row["output_tokens"]
        self.errors += row["errors"]
        self.seconds += row["seconds"]
        self.coverage = round(100.0 * self.covered / self.problems, 2)


def _usage(outputs: Iterable[Any]) -> dict[str, int]:
    total = {"model_calls": 0, "input_tokens": 0, "output_tokens": 0, "errors": 0}
    for out in outputs:
        if isinstance(out, BaseException):
            total["errors"] += 1
            continue
        usage = out.get("usage") or {}
        for key in ("model_calls", "input_tokens", "output_tokens"):
            total[key] += int(usage.get(key) or 0)
    return total


def _clean_corpus(corpus: Path, done: set[str]) -> None:
    """Drop corpus records of problems without a ledger row (a kill between the two)."""
    rows = read_rows(corpus, repair=True)
    kept = [row for row in rows if row.get("problem_id") in done]
    if len(kept) != len(rows):
        tmp = corpus.with_suffix(".tmp")
        tmp.write_text("".join(_line(row) for row in kept), encoding="utf-8")
        os.replace(tmp, corpus)


def _line(row: Mapping[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def synthesize(
    problems: Sequence[Problem],
    greedy: Runnable[Any, Any],
    sampler: Runnable[Any, Any] | None,
    output_dir: str | Path,
    *,
    samples: int = 10,
    keep: int = 4,
    batch_size: int = 32,
    config: RunnableConfig | None = None,
    tora_compatible: bool = False,
    on_problem: Callable[[Problem, dict[str, Any]], None] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Curate trajectories for ``problems`` into ``output_dir`` (resumable); return the report.

    The report (also ``report.json``) covers every problem with a ledger row in
    ``output_dir``, so several runs (one per dataset) can share a directory.

    For each chunk of ``batch_size`` problems: one round-synchronous
    ``greedy.batch(questions, config, return_exceptions=True)``; the problems whose
    greedy trajectory is not valid get ``samples`` trajectories each from ``sampler``
    (one more ``batch`` of the repeated questions), of which up to ``keep`` valid ones
    with distinct code (:func:`code_signature`) are kept.  Each problem's records and
    then its ledger row are appended and flushed; ``on_problem(problem, row)`` is
    called after each (a progress hook; tests raise from it to simulate a kill).

    Args:
        problems: the problems (unique ids), e.g. :func:`load_training_problems`.
        greedy: the teacher chain with greedy decoding (a ``ToRAChain``).
        sampler: the same teacher with nucleus sampling, or None for greedy only.
        config: passed to ``batch``; ``max_concurrency`` caps concurrent model calls.

    Example:
        >>> report = synthesize(problems, greedy_chain, sampling_chain, "runs/corpus")  # doctest: +SKIP
        >>> report["datasets"]["gsm8k"]["coverage"]  # doctest: +SKIP
        98.2
    """
    if keep < 1 or samples < 0 or batch_size < 1:
        raise ValueError("keep and batch_size must be at least 1, samples at least 0")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError("problem ids must be unique: the ledger is keyed by id")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus, ledger = out / CORPUS_FILE, out / LEDGER_FILE

    # 1. What is done already: ledger rows; corpus records only of finished problems.
    done = {row["id"]: row for row in read_rows(ledger, repair=True) if "id" in row}
    _clean_corpus(corpus, set(done))
    todo = [p for p in problems if p.id not in done]
    if progress:
        print(f"synthesize: {len(done)} problems done, {len(todo)} to go", file=sys.stderr)

    # 2. Greedy first, then sampling for the failures; write each problem as it finishes.
    def valid(output: Any, problem: Problem) -> bool:
        return is_valid(output, problem.gold, tora_compatible=tora_compatible)

    failures: list[str] = []  # problems whose every call failed: left for the next run
    with (
        corpus.open("a", encoding="utf-8") as corpus_f,
        ledger.open("a", encoding="utf-8") as ledger_f,
    ):
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            began = time.perf_counter()
            firsts = greedy.batch([p.question for p in chunk], config, return_exceptions=True)
            failed = [i for i, p in enumerate(chunk) if not valid(firsts[i], p)]
            tries: dict[int, list[Any]] = {}
            if failed and samples and sampler is not None:
                repeated = [chunk[i].question for i in failed for _ in range(samples)]
                outs = sampler.batch(repeated, config, return_exceptions=True)
                tries = {i: outs[j * samples : (j + 1) * samples] for j, i in enumerate(failed)}
            share = (time.perf_counter() - began) / len(chunk)

            for i, problem in enumerate(chunk):
                sampled = tries.get(i, [])
                if all(isinstance(o, BaseException) for o in [firsts[i], *sampled]):
                    failures.append(f"{problem.id} ({type(firsts[i]).__name__}: {firsts[i]})")
                    continue
                if valid(firsts[i], problem):
                    source, kept = "greedy", [firsts[i]["trajectory"]]
                else:
                    source, kept = (
                        "sampled",
                        _distinct([o for o in sampled if valid(o, problem)], keep),
                    )
                for k, trajectory in enumerate(kept):
                    corpus_f.write(_line(corpus_record(problem, trajectory, source=source, k=k)))
                corpus_f.flush()
                row = {
                    "id": problem.id,
                    "dataset": problem.dataset,
                    "greedy_valid": source == "greedy",
                    "samples": len(sampled),
                    "valid_samples": sum(valid(o, problem) for o in sampled),
                    "kept": len(kept),
                    **_usage([firsts[i], *sampled]),
                    "seconds": round(share, 4),
                }
                ledger_f.write(_line(row))  # the ledger row marks the problem done
                ledger_f.flush()
                done[problem.id] = row
                if on_problem is not None:
                    on_problem(problem, row)
            if progress:
                print(f"synthesize: {len(done)} problems done", file=sys.stderr)
    if failures:
        print(
            f"synthesize: every teacher call failed for {len(failures)} problems, e.g. "
            f"{failures[0]}; run again to retry them",
            file=sys.stderr,
        )

    # 3. The report: coverage per dataset and the teacher's cost (every problem of the directory).
    return write_report(out, list(done.values()), retry=failures)


def _distinct(outputs: Sequence[Mapping[str, Any]], keep: int) -> list[str]:
    """Up to ``keep`` trajectories with distinct code, in order."""
    kept: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for output in outputs:
        signature = code_signature(output["trajectory"])
        if signature not in seen and len(kept) < keep:
            seen.add(signature)
            kept.append(output["trajectory"])
    return kept


def write_report(
    output_dir: Path, rows: Sequence[Mapping[str, Any]], retry: Sequence[str] = ()
) -> dict[str, Any]:
    """Coverage per dataset and in total from ledger rows, written as ``report.json``.

    ``retry`` lists the problems whose every call failed in this run (not in the rows).
    """
    stats: dict[str, SynthesisStats] = {}
    total = SynthesisStats("all")
    for row in rows:
        stats.setdefault(row["dataset"], SynthesisStats(row["dataset"])).add(row)
        total.add(row)
    report = {
        "datasets": {name: vars(s) for name, s in stats.items()},
        "total": vars(total),
        "retry": list(retry),
        "paper": {"gsm8k_coverage": 98.2, "math_coverage": 83.1, "teacher": "GPT-4"},
    }
    (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


# --------------------------------------------------------------------------- command line


def _chat_prompt(dataset: str) -> str:
    return {"gsm8k": "chat:gsm8k", "math": "chat:math"}.get(dataset, "chat")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train.synthesize",
        description="Curate a ToRA corpus with a teacher model: greedy first, then nucleus "
        "samples for the problems greedy decoding failed; valid trajectories (correct answer, "
        "no execution error or timeout) go to DIR/corpus.jsonl as ToRA records. Resumable.",
    )
    parser.add_argument(
        "--teacher",
        required=True,
        help="provider:model (openai:gpt-4o), a model folder, a Hub id or vllm:URL@MODEL",
    )
    parser.add_argument(
        "--data", required=True, help="gsm8k, math (training sets) or jsonl files, comma-separated"
    )
    parser.add_argument("--data-dir", default=None, help="default: $TORA_DATA_DIR")
    parser.add_argument("--output", required=True, metavar="DIR", help="reuse it to resume")
    parser.add_argument("--samples", type=int, default=10, help="samples for a failed problem")
    parser.add_argument("--keep", type=int, default=4, help="valid samples kept per problem")
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (local models)")
    parser.add_argument("--limit", type=int, default=None, help="first N problems of each set")
    parser.add_argument(
        "--max-concurrency", type=int, default=8, help="concurrent model calls (default 8)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="problems per chunk written at once"
    )
    parser.add_argument(
        "--prompt",
        default="auto",
        help="auto: chat:gsm8k / chat:math / chat for chat models, tora for ToRA checkpoints",
    )
    parser.add_argument("--max-tool-calls", type=int, default=4)
    parser.add_argument("--interpreter", choices=["local", "e2b"], default="local")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per execution")
    parser.add_argument("--device", default="auto", help="local models: cpu, cuda or auto")
    parser.add_argument("--tora-compatible", action="store_true", help="lenient grading")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train.synthesize``: see the module docstring."""
    from langchain_tora.cli import make_chain, make_interpreter

    args = build_parser().parse_args(argv)
    problems = load_training_problems(args.data, data_dir=args.data_dir, limit=args.limit)
    by_dataset: dict[str, list[Problem]] = {}
    for problem in problems:
        by_dataset.setdefault(problem.dataset, []).append(problem)
    print(
        f"synthesize: {len(problems)} problems ({', '.join(by_dataset)}) with {args.teacher}",
        file=sys.stderr,
    )
    with make_interpreter(args.interpreter, args.timeout) as interpreter:
        spec = argparse.Namespace(
            model=args.teacher,
            prompt="tora" if args.prompt == "auto" else args.prompt,
            max_tool_calls=args.max_tool_calls,
            temperature=0.0,
            top_p=None,
            seed=args.seed,
            device=args.device,
        )
        base = make_chain(spec, interpreter)
        sampling_llm = sampling_copy(base.llm, temperature=args.temperature, top_p=args.top_p)
        report: dict[str, Any] = {}
        for dataset, subset in by_dataset.items():
            prompt = args.prompt
            if prompt == "auto":
                prompt = _chat_prompt(dataset) if isinstance(base.llm, BaseChatModel) else "tora"
            greedy = base.model_copy(update={"prompt": prompt})
            sampler = greedy.model_copy(update={"llm": sampling_llm})
            report = synthesize(
                subset,
                greedy,
                sampler,
                args.output,
                samples=args.samples,
                keep=args.keep,
                batch_size=args.batch_size,
                config={"max_concurrency": args.max_concurrency},
                tora_compatible=args.tora_compatible,
                progress=not args.quiet,
            )
    for name, stats in report.get("datasets", {}).items():
        print(
            f"{name}: {stats['covered']}/{stats['problems']} problems covered "
            f"({stats['coverage']:.1f}%), {stats['records']} records, "
            f"{stats['input_tokens']} input + {stats['output_tokens']} output tokens"
        )
    print(f"corpus: {Path(args.output) / CORPUS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
