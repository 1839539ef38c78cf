"""Evaluate a ToRA chain on the paper's datasets, and re-grade recorded outputs.

:func:`evaluate_dataset` runs one dataset through :meth:`ToRAChain.batch
<langchain_tora.chain.ToRAChain.batch>` (round-synchronous) in chunks of
``batch_size`` problems and appends one JSON line per problem to a file as each chunk
finishes.  Run again on the same file, it skips the problems already there (a line cut
off by a kill is dropped and redone), so a stopped run resumes where it was.

:func:`evaluate` does that for several datasets into one directory and writes the
reports beside the rows::

    <output>/<dataset>.jsonl   one row per problem (see below)
    <output>/metrics.json      per dataset: n, correct, accuracy (strict and ToRA-compatible),
                               mean tool calls, timeouts, errors, seconds, problems/s;
                               plus the paper's MAWPS and AVG columns (``paper_average``)
    <output>/results.md        the paper's Table 2 layout, then one line per dataset
    <output>/results.png       a bar chart of the accuracy per dataset (needs matplotlib)

A row holds ``id``, ``dataset``, ``question``, ``gold``, ``prediction`` and ``correct``
(in the chosen grading mode), ``correct_strict`` and ``correct_compatible`` (both modes,
always), then with one sample ``trajectory``, ``steps``, ``tool_calls``,
``stop_reason`` and ``usage``; with ``samples=k > 1`` instead ``samples`` (k records
with those fields, each with its own ``prediction`` and ``correct``) and ``votes``
(``[answer, count]`` per group of equal answers): the row's ``prediction`` is the
majority vote (self-consistency; :func:`majority_vote`).  Every row also has
``timeouts`` (executions that ran out of time), ``error`` (the exception of a chain
call that failed, as text; such a problem counts as wrong) and ``seconds`` (its share
of its chunk's time).

:func:`regrade` re-extracts and re-grades a file of rows: this module's own, or the
released ToRA outputs (``idx``, ``question``, ``gt``, ``code``: [trajectory, ...],
``pred``: [answer, ...]).

Example:
    .. code-block:: python

        from langchain_tora import ToRAChain
        from langchain_tora.evaluation import evaluate, regrade

        chain = ToRAChain.from_pretrained("llm-agents/tora-code-7b-v1.0")
        metrics = evaluate(chain, "gsm8k,svamp", "runs/eval-7b", limit=100)
        metrics["paper_average"]        # {'gsm8k': ..., 'svamp': ..., 'avg': ...}

        report = regrade("runs/eval-7b/gsm8k.jsonl")
        print(report.summary())
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from tqdm.auto import tqdm

from langchain_tora.datasets.benchmarks import (
    DATASETS,
    DatasetNotFoundError,
    Problem,
    column_title,
    load_problems,
    paper_average,
    resolve_datasets,
)
from langchain_tora.grading import extract_answer, math_equal, normalize_answer

__all__ = [
    "DatasetMetrics",
    "RegradeReport",
    "evaluate",
    "evaluate_dataset",
    "load_datasets",
    "majority_vote",
    "read_rows",
    "regrade",
    "summarize_rows",
    "write_chart",
    "write_markdown",
]

METRICS_FILE = "metrics.json"
TABLE_FILE = "results.md"
CHART_FILE = "results.png"


# --------------------------------------------------------------------------- row files


def read_rows(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file, tolerating a last line cut off mid-write.

    A last line that is not valid JSON (a run killed while writing it) is ignored;
    with ``repair=True`` it is also removed from the file, and a last row without its
    newline gets one, so that rows appended next start on a line of their own.  A
    missing file has no rows.

    Raises:
        ValueError: a line other than the last is not a JSON object (the message
            names the file and the line).
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")  # the last item is b"" when the file ends with a newline
    rows: list[dict[str, Any]] = []
    good_end = 0  # the byte just after the last good row (or blank line)
    position = 0
    for number, line in enumerate(lines, start=1):
        end = position + len(line) + (1 if number < len(lines) else 0)
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                if any(rest.strip() for rest in lines[number:]):
                    raise ValueError(
                        f"{path}, line {number}: not valid JSON (only a last line cut off "
                        "mid-write is tolerated)"
                    ) from None
                break  # a partial last line: dropped
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: a row must be a JSON object")
            rows.append(row)
        good_end = end
        position = end
    if repair and (good_end < len(data) or (data and not data.endswith(b"\n"))):
        with path.open("r+b") as f:
            f.truncate(good_end)
            if good_end and data[good_end - 1 : good_end] != b"\n":
                f.seek(good_end)
                f.write(b"\n")
    return rows


def _json_line(row: Mapping[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str) + "\n"


# --------------------------------------------------------------------------- voting


def majority_vote(predictions: Sequence[str | None]) -> tuple[str | None, list[list[Any]]]:
    """Self-consistency: the answer given most often, counting equal answers together.

    Answers are grouped by equivalence: the same normalised string
    (:func:`~langchain_tora.grading.normalize_answer`) first, else
    :func:`~langchain_tora.grading.math_equal` (strict) with a group's first answer.
    The largest group wins; a tie goes to the group whose answer came first.  None
    (no answer) does not vote.

    Returns:
        ``(winner, groups)``: the winning group's first answer (None when no sample
        answered) and ``[answer, count]`` per group, in order of first appearance.

    Example:
        >>> majority_vote(["6", "5", r"\\frac{10}{2}", None, "6.0"])
        ('6', [['6', 2], ['5', 2]])
        >>> majority_vote([None, None])
        (None, [])
    """
    groups: list[list[Any]] = []
    keys: dict[str, int] = {}  # normalised answer -> index of its group
    for prediction in predictions:
        if prediction is None or not str(prediction).strip():
            continue
        key = normalize_answer(prediction)
        index = keys.get(key)
        if index is None:
            index = next(
                (i for i, (first, _) in enumerate(groups) if math_equal(prediction, first)),
                None,
            )
            if index is None:
                index = len(groups)
                groups.append([prediction, 0])
            keys[key] = index
        groups[index][1] += 1
    if not groups:
        return None, []
    winner = max(groups, key=lambda group: group[1])  # max keeps the first of equals
    return winner[0], groups


# --------------------------------------------------------------------------- one problem


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _timeouts(steps: Iterable[Mapping[str, Any]]) -> int:
    return sum(bool((step.get("execution") or {}).get("timed_out")) for step in steps)


def _grade(prediction: str | None, gold: str) -> tuple[bool, bool]:
    """``(strict, compatible)`` verdicts (compatible grading only adds leniency)."""
    strict = math_equal(prediction, gold)
    return strict, strict or math_equal(prediction, gold, tora_compatible=True)


def _sample_record(output: Any) -> dict[str, Any]:
    """One trajectory's record: what the chain returned, or how it failed (not graded yet)."""
    if isinstance(output, BaseException):
        return {
            "trajectory": None,
            "steps": [],
            "prediction": None,
            "tool_calls": 0,
            "stop_reason": None,
            "error": _error_text(output),
        }
    prediction = output.get("answer")
    return {
        "trajectory": output.get("trajectory"),
        "steps": list(output.get("steps") or []),
        "prediction": prediction,
        "tool_calls": output.get("tool_calls", 0),
        "stop_reason": output.get("stop_reason"),
        "error": None,
        "usage": output.get("usage"),
    }


def _problem_row(
    problem: Problem,
    records: list[dict[str, Any]],
    *,
    tora_compatible: bool,
    seconds: float,
) -> dict[str, Any]:
    """The row of one problem from the records of its samples (one or more)."""
    if len(records) == 1:
        prediction, votes = records[0]["prediction"], None
    else:
        prediction, votes = majority_vote([r["prediction"] for r in records])
    strict, compatible = _grade(prediction, problem.gold)
    row: dict[str, Any] = {
        "id": problem.id,
        "dataset": problem.dataset,
        "question": problem.question,
        "gold": problem.gold,
        "prediction": prediction,
        "correct": compatible if tora_compatible else strict,
        "correct_strict": strict,
        "correct_compatible": compatible,
    }
    if votes is None:
        record = records[0]
        row.update(
            trajectory=record["trajectory"],
            steps=record["steps"],
            tool_calls=record["tool_calls"],
            stop_reason=record["stop_reason"],
            usage=record.get("usage"),
        )
    else:
        samples = [
            {
                **r,
                "correct": math_equal(
                    r["prediction"], problem.gold, tora_compatible=tora_compatible
                ),
            }
            for r in records
        ]
        row.update(samples=samples, votes=votes)
    failed = [r["error"] for r in records if r["error"] is not None]
    row["timeouts"] = sum(_timeouts(r["steps"]) for r in records)
    row["error"] = failed[0] if len(failed) == len(records) else None
    row["seconds"] = round(seconds, 6)
    if problem.meta:
        row["meta"] = problem.meta
    return row


def _trajectories(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The trajectory records of a row: its samples, or the row itself."""
    samples = row.get("samples")
    return list(samples) if isinstance(samples, list) else [row]


# --------------------------------------------------------------------------- metrics


@dataclass
class DatasetMetrics:
    """What an evaluation of one dataset found (accuracies in percent)."""

    dataset: str
    n: int
    """Problems evaluated."""
    samples: int
    """Trajectories per problem (majority vote when more than one)."""
    tora_compatible: bool
    """Which grading ``correct`` and ``accuracy`` use."""
    correct: int
    accuracy: float
    correct_strict: int
    accuracy_strict: float
    correct_compatible: int
    accuracy_compatible: float
    no_answer: int
    """Problems without a prediction (no sample gave an answer)."""
    mean_tool_calls: float
    """Executions per trajectory (failed chain calls left out)."""
    timeouts: int
    """Executions that ran out of time."""
    errors: int
    """Chain calls that failed (trajectories with an exception)."""
    error_ids: list[str] = field(default_factory=list)
    """Problems with a failed chain call."""
    seconds: float = 0.0
    """Time spent on these problems (summed over resumed runs)."""
    problems_per_second: float | None = None

    @property
    def title(self) -> str:
        """The dataset's title in the paper (``GSM8k``, ``MATH``, ...)."""
        return column_title(self.dataset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 4) if total else 0.0


def summarize_rows(
    dataset: str, rows: Sequence[Mapping[str, Any]], *, tora_compatible: bool = False
) -> DatasetMetrics:
    """The metrics of one dataset's rows (as :func:`evaluate_dataset` writes them)."""
    n = len(rows)
    strict = sum(bool(r.get("correct_strict", r.get("correct"))) for r in rows)
    compatible = sum(bool(r.get("correct_compatible", r.get("correct"))) for r in rows)
    chosen = compatible if tora_compatible else strict
    trajectories = [t for r in rows for t in _trajectories(r)]
    answered = [t for t in trajectories if not t.get("error")]
    tool_calls = sum(int(t.get("tool_calls") or 0) for t in answered)
    seconds = sum(float(r.get("seconds") or 0.0) for r in rows)
    return DatasetMetrics(
        dataset=dataset,
        n=n,
        samples=max((len(_trajectories(r)) for r in rows), default=1),
        tora_compatible=tora_compatible,
        correct=chosen,
        accuracy=_percent(chosen, n),
        correct_strict=strict,
        accuracy_strict=_percent(strict, n),
        correct_compatible=compatible,
        accuracy_compatible=_percent(compatible, n),
        no_answer=sum(r.get("prediction") is None for r in rows),
        mean_tool_calls=round(tool_calls / len(answered), 4) if answered else 0.0,
        timeouts=sum(int(r.get("timeouts") or 0) for r in rows),
        errors=sum(bool(t.get("error")) for t in trajectories),
        error_ids=[str(r.get("id")) for r in rows if any(t.get("error") for t in _trajectories(r))],
        seconds=round(seconds, 3),
        problems_per_second=round(n / seconds, 4) if seconds > 0 else None,
    )


# --------------------------------------------------------------------------- evaluation


def _warn_if_identical_samples(chain: Any, samples: int) -> None:
    temperature = getattr(getattr(chain, "llm", None), "temperature", None)
    if samples > 1 and temperature is not None and temperature == 0:
        warnings.warn(
            f"samples={samples} with temperature 0: greedy decoding gives {samples} identical "
            "samples, so the majority vote is the greedy answer; set a temperature "
            "(the paper samples with 0.6 or so) for self-consistency",
            UserWarning,
            stacklevel=3,
        )


def _run_chunk(
    chain: Runnable[Any, Any],
    chunk: Sequence[Problem],
    *,
    samples: int,
    config: RunnableConfig | None,
    tora_compatible: bool,
) -> list[dict[str, Any]]:
    """Solve a chunk of problems (each ``samples`` times) in one ``chain.batch``."""
    inputs = [problem.question for problem in chunk for _ in range(samples)]
    start = time.perf_counter()
    try:
        outputs = chain.batch(inputs, config, return_exceptions=True)
    except Exception as error:  # the chain itself broke: every problem of the chunk failed
        outputs = [error] * len(inputs)
    share = (time.perf_counter() - start) / len(chunk)
    rows = []
    for i, problem in enumerate(chunk):
        records = [_sample_record(output) for output in outputs[i * samples : (i + 1) * samples]]
        rows.append(_problem_row(problem, records, tora_compatible=tora_compatible, seconds=share))
    return rows


def _accuracy_text(rows: Sequence[Mapping[str, Any]], tora_compatible: bool) -> str:
    key = "correct_compatible" if tora_compatible else "correct_strict"
    correct = sum(bool(r.get(key)) for r in rows)
    return f"acc={100.0 * correct / len(rows):.1f}%" if rows else "acc=-"


def evaluate_dataset(
    chain: Runnable[Any, Any],
    problems: Sequence[Problem],
    out_file: str | Path,
    *,
    samples: int = 1,
    batch_size: int = 64,
    config: RunnableConfig | None = None,
    tora_compatible: bool = False,
    progress: bool = True,
    dataset: str | None = None,
) -> DatasetMetrics:
    """Solve and grade one dataset's problems, appending one row per problem to ``out_file``.

    Problems whose ``id`` already has a row in ``out_file`` are not run again (resume);
    a last line cut off mid-write is dropped and its problem redone.  The problems go
    through ``chain.batch(..., config, return_exceptions=True)`` ``batch_size`` at a
    time (each repeated ``samples`` times); the chunk's rows are written and flushed
    when it finishes.  A chain call that fails is recorded in the row's ``error`` and
    counts as wrong.

    Args:
        chain: a :class:`~langchain_tora.chain.ToRAChain` (or a Runnable returning its
            output dicts).
        problems: the problems (unique ids), e.g. from
            :func:`~langchain_tora.datasets.load_problems`.
        out_file: the JSON-lines file of rows (created with its directory).
        samples: trajectories per problem; more than one are majority-voted.
        batch_size: problems per ``chain.batch`` call.
        config: the RunnableConfig for ``chain.batch``; its ``max_concurrency`` caps
            the prompts of one model call.
        tora_compatible: grade ``correct`` and ``accuracy`` with the released grader's
            leniency (both modes are always recorded).
        progress: show a progress bar with the running accuracy.
        dataset: the name in the metrics (default: the problems' dataset).

    Returns:
        The metrics of all the problems given (resumed rows included).
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    problems = list(problems)
    ids = [problem.id for problem in problems]
    if len(set(ids)) != len(ids):
        raise ValueError("problem ids must be unique: rows are matched to problems by id")
    out_file = Path(out_file)
    name = dataset or (problems[0].dataset if problems else out_file.stem)
    _warn_if_identical_samples(chain, samples)

    out_file.parent.mkdir(parents=True, exist_ok=True)
    wanted = set(ids)
    done: dict[str, dict[str, Any]] = {}
    for row in read_rows(out_file, repair=True):
        row_id = row.get("id")
        if row_id in wanted and row_id not in done:
            done[row_id] = row
    earlier_samples = {len(_trajectories(row)) for row in done.values()} - {samples}
    if earlier_samples:
        warnings.warn(
            f"{out_file} has rows made with {sorted(earlier_samples)} sample(s) per problem; "
            f"this run uses {samples}.  They are kept: use another output to redo them",
            UserWarning,
            stacklevel=2,
        )
    todo = [problem for problem in problems if problem.id not in done]

    bar = tqdm(
        total=len(problems),
        initial=len(problems) - len(todo),
        desc=name,
        unit="problem",
        disable=not progress,
    )
    bar.set_postfix_str(_accuracy_text(list(done.values()), tora_compatible))
    try:
        with out_file.open("a", encoding="utf-8") as sink:
            for start in range(0, len(todo), batch_size):
                rows = _run_chunk(
                    chain,
                    todo[start : start + batch_size],
                    samples=samples,
                    config=config,
                    tora_compatible=tora_compatible,
                )
                sink.write("".join(_json_line(row) for row in rows))
                sink.flush()
                done.update((row["id"], row) for row in rows)
                bar.update(len(rows))
                bar.set_postfix_str(_accuracy_text(list(done.values()), tora_compatible))
    finally:
        bar.close()
    return summarize_rows(
        name, [done[problem_id] for problem_id in ids], tora_compatible=tora_compatible
    )


def load_datasets(
    names: str | Sequence[str],
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    skip_missing: bool = False,
) -> dict[str, list[Problem]]:
    """The problems of each named dataset (``"gsm8k,math"``, ``"mawps"``, ``"all"``...).

    All are loaded before anything runs, so that a missing dataset stops a run at
    once, not hours in; ``skip_missing=True`` leaves it out with a warning instead.
    """
    loaded: dict[str, list[Problem]] = {}
    for name in resolve_datasets(names):
        try:
            loaded[name] = load_problems(name, data_dir=data_dir, limit=limit)
        except DatasetNotFoundError as error:
            if not skip_missing:
                raise
            warnings.warn(f"{name} skipped: {error}", UserWarning, stacklevel=2)
    if not loaded:
        raise DatasetNotFoundError("none of the datasets could be loaded")
    return loaded


def _model_label(chain: Any) -> str:
    llm = getattr(chain, "llm", None)
    for attribute in ("model_id", "model_name", "model"):
        value = getattr(llm, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(llm if llm is not None else chain).__name__


def _metrics_document(
    results: Mapping[str, DatasetMetrics],
    *,
    samples: int,
    tora_compatible: bool,
    run_info: Mapping[str, Any],
) -> dict[str, Any]:
    def averages(attribute: str) -> dict[str, float]:
        known = {n: getattr(m, attribute) for n, m in results.items() if n in DATASETS}
        if not known:
            return {}
        return {name: round(value, 4) for name, value in paper_average(known).items()}

    return {
        "run": dict(run_info),
        "grading": "tora_compatible" if tora_compatible else "strict",
        "samples": samples,
        "datasets": {name: metrics.to_dict() for name, metrics in results.items()},
        "paper_average": averages("accuracy"),
        "paper_average_strict": averages("accuracy_strict"),
        "paper_average_compatible": averages("accuracy_compatible"),
    }


def evaluate(
    chain: Runnable[Any, Any],
    datasets: str | Sequence[str] | Mapping[str, Sequence[Problem]],
    output_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    samples: int = 1,
    batch_size: int = 64,
    config: RunnableConfig | None = None,
    tora_compatible: bool = False,
    progress: bool = True,
    run_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate on several datasets into ``output_dir`` (rows, metrics, table, chart).

    Args:
        chain: the chain to evaluate.
        datasets: names (``"gsm8k,svamp"``, ``["math"]``, ``"mawps"``, ``"all"``) loaded
            with ``data_dir`` and ``limit``, or the problems themselves by dataset name.
        output_dir: where ``<dataset>.jsonl``, ``metrics.json``, ``results.md`` and
            ``results.png`` go; run again on it to resume.
        run_info: facts about the run for ``metrics.json`` (``model``, ``prompt``,
            ``temperature``...); its ``model`` labels the table and the chart.
        The other arguments are those of :func:`evaluate_dataset`.

    Returns:
        The content of ``metrics.json`` (rewritten, with the reports, after each dataset).
    """
    if isinstance(datasets, Mapping):
        problems_by_dataset = {name: list(problems) for name, problems in datasets.items()}
    else:
        problems_by_dataset = load_datasets(datasets, data_dir=data_dir, limit=limit)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    info = {"model": _model_label(chain), **(run_info or {})}
    info.setdefault("samples", samples)
    results: dict[str, DatasetMetrics] = {}
    document: dict[str, Any] = {}
    for name, problems in problems_by_dataset.items():
        results[name] = evaluate_dataset(
            chain,
            problems,
            output_dir / f"{name}.jsonl",
            samples=samples,
            batch_size=batch_size,
            config=config,
            tora_compatible=tora_compatible,
            progress=progress,
            dataset=name,
        )
        document = _metrics_document(
            results, samples=samples, tora_compatible=tora_compatible, run_info=info
        )
        _write_text(output_dir / METRICS_FILE, json.dumps(document, indent=2) + "\n")
        write_markdown(document, output_dir / TABLE_FILE)
        write_chart(document, output_dir / CHART_FILE)
    return document


# --------------------------------------------------------------------------- reports


def _write_text(path: Path, text: str) -> None:
    """Write a file whole (through a temporary file), so a kill never leaves half of it."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, first_left: bool) -> str:
    aligns = [":---" if first_left and i == 0 else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def write_markdown(metrics: Mapping[str, Any], path: str | Path) -> str:
    """Write the results as markdown: the paper's Table 2 layout, then per dataset.

    Table 2 has a column per evaluated dataset of the paper (MAWPS as the mean of its
    four subsets when all four ran) and AVG, and a row per grading mode (the chosen
    one first).  Returns the text.
    """
    run = metrics.get("run", {})
    model = str(run.get("model", "model"))
    compatible_first = metrics.get("grading") == "tora_compatible"
    samples = int(metrics.get("samples", 1))
    modes = [("strict", "paper_average_strict"), ("ToRA-compatible", "paper_average_compatible")]
    if compatible_first:
        modes.reverse()

    setting = [f"prompt `{run['prompt']}`"] if run.get("prompt") else []
    if samples > 1:
        setting.append(f"majority vote of {samples} samples")
    elif run.get("temperature") in (None, 0, 0.0):
        setting.append("greedy decoding")
    if run.get("temperature") not in (None, 0, 0.0):
        setting.append(f"temperature {run['temperature']}")
    setting.append(f"grading: {modes[0][0]}")
    parts = [f"# ToRA evaluation: {model}", "", ", ".join(setting) + ".", ""]

    columns = list(metrics.get(modes[0][1]) or {})
    parts += ["## Accuracy (%) in the layout of the paper's Table 2", ""]
    if columns:
        header = ["Model", *(column_title(c) for c in columns)]
        rows = [
            [f"{model} ({mode})", *(_number(metrics[key].get(c)) for c in columns)]
            for mode, key in modes
        ]
        parts.append(_table(header, rows, first_left=True))
    else:
        parts.append("No dataset of the paper was evaluated.")

    header = [
        "Dataset",
        "Problems",
        "Correct",
        "Accuracy",
        "Strict",
        "Compatible",
        "No answer",
        "Tool calls",
        "Timeouts",
        "Errors",
        "Seconds",
        "Problems/s",
    ]
    rows = [
        [
            column_title(name),
            str(m["n"]),
            str(m["correct"]),
            _number(m["accuracy"]),
            _number(m["accuracy_strict"]),
            _number(m["accuracy_compatible"]),
            str(m["no_answer"]),
            _number(m["mean_tool_calls"], 2),
            str(m["timeouts"]),
            str(m["errors"]),
            _number(m["seconds"]),
            _number(m["problems_per_second"], 2),
        ]
        for name, m in metrics.get("datasets", {}).items()
    ]
    parts += ["", "## Per dataset", "", _table(header, rows, first_left=True), ""]
    text = "\n".join(parts)
    _write_text(Path(path), text)
    return text


def write_chart(metrics: Mapping[str, Any], path: str | Path) -> bool:
    """Write a bar chart of the accuracy per dataset (PNG); False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "matplotlib is not installed: no chart (pip install 'langchain-tora[eval]')",
            UserWarning,
            stacklevel=2,
        )
        return False
    datasets = metrics.get("datasets", {})
    names = [column_title(name) for name in datasets]
    values = [float(m["accuracy"]) for m in datasets.values()]
    mode = "ToRA-compatible" if metrics.get("grading") == "tora_compatible" else "strict"
    figure = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(names)), 4.0), layout="constrained")
    axes = figure.subplots()
    bars = axes.bar(names, values, color="#4C72B0")
    axes.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=2)
    axes.set_ylim(0, 105)
    axes.set_ylabel(f"accuracy (%), {mode} grading")
    axes.set_title(str(metrics.get("run", {}).get("model", "")), fontsize=10)
    axes.tick_params(axis="x", labelrotation=30 if len(names) > 5 else 0)
    path = Path(path)
    partial = path.with_name(path.stem + ".tmp" + path.suffix)
    figure.savefig(partial, dpi=120)
    os.replace(partial, path)
    return True


# --------------------------------------------------------------------------- regrading


@dataclass
class RegradeReport:
    """What :func:`regrade` found (accuracies in percent)."""

    path: Path
    output: Path | None
    rows: int = 0
    correct_strict: int = 0
    correct_compatible: int = 0
    tora_compatible: bool = False
    prediction_changes: list[dict[str, Any]] = field(default_factory=list)
    """Rows whose re-extracted answer differs from the recorded one (after normalisation)."""
    mode_differences: list[dict[str, Any]] = field(default_factory=list)
    """Rows that strict and ToRA-compatible grading judge differently."""
    recorded_differences: list[dict[str, Any]] = field(default_factory=list)
    """Rows whose verdict now differs from the recorded one (``correct_strict`` /
    ``correct_compatible`` / ``correct`` / ``score``, or for rows without a verdict,
    the recorded ``pred`` graded ToRA-compatibly)."""

    @property
    def accuracy_strict(self) -> float:
        return 100.0 * self.correct_strict / self.rows if self.rows else 0.0

    @property
    def accuracy_compatible(self) -> float:
        return 100.0 * self.correct_compatible / self.rows if self.rows else 0.0

    @property
    def accuracy(self) -> float:
        """The accuracy in the chosen grading mode."""
        return self.accuracy_compatible if self.tora_compatible else self.accuracy_strict

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            path=str(self.path),
            output=None if self.output is None else str(self.output),
            accuracy_strict=self.accuracy_strict,
            accuracy_compatible=self.accuracy_compatible,
        )
        return out

    def summary(self, *, limit: int | None = 50) -> str:
        """A readable report; lists at most ``limit`` rows of each kind of difference."""
        lines = [
            f"rows: {self.rows}",
            f"accuracy (strict grading): {self.accuracy_strict:.1f} ({self.correct_strict})",
            f"accuracy (ToRA-compatible grading): {self.accuracy_compatible:.1f} "
            f"({self.correct_compatible})",
        ]

        def listing(title: str, entries: list[dict[str, Any]], fmt: Any) -> None:
            lines.append(f"{title}: {len(entries)}")
            shown = entries if limit is None else entries[:limit]
            lines.extend("  " + fmt(entry) for entry in shown)
            if len(shown) < len(entries):
                lines.append(f"  ... and {len(entries) - len(shown)} more")

        listing(
            "re-extracted answers that differ from the recorded ones",
            self.prediction_changes,
            lambda d: (
                f"{d['id']}: recorded {_short(d['recorded_prediction'])}, "
                f"now {_short(d['prediction'])}"
            ),
        )
        listing(
            "rows where strict and ToRA-compatible grading differ",
            self.mode_differences,
            lambda d: (
                f"{d['id']}: prediction {_short(d['prediction'])}, gold {_short(d['gold'])}, "
                f"strict {d['strict']}, compatible {d['compatible']}"
            ),
        )
        listing(
            "rows whose verdict differs from the recorded one",
            self.recorded_differences,
            lambda d: (
                f"{d['id']} ({d['mode']}): recorded {d['recorded']} for "
                f"{_short(d['recorded_prediction'])}, now {d['regraded']} for "
                f"{_short(d['prediction'])} (gold {_short(d['gold'])})"
            ),
        )
        if self.output is not None:
            lines.append(f"regraded rows written to {self.output}")
        return "\n".join(lines)


def _short(text: str | None, limit: int = 60) -> str:
    if text is None or len(text) <= limit:
        return repr(text)
    return repr(text[: limit - 3] + "...")


def _changed(recorded: str | None, prediction: str | None) -> bool:
    if recorded is None or prediction is None:
        return recorded is not prediction
    return normalize_answer(recorded) != normalize_answer(prediction)


def _recorded_trajectories(row: Mapping[str, Any], where: str) -> list[str | None]:
    if isinstance(row.get("samples"), list):  # this module's rows, several samples
        return [sample.get("trajectory") for sample in row["samples"]]
    if "trajectory" in row:  # this module's rows, one sample
        return [row["trajectory"]]
    code = row.get("code")  # the released format
    if isinstance(code, str):
        return [code]
    if isinstance(code, list) and code:
        return list(code)
    raise ValueError(
        f"{where}: not an evaluation row (needs 'trajectory', 'samples' or the released "
        "format's 'code': [trajectory])"
    )


def _recorded_prediction(row: Mapping[str, Any]) -> str | None:
    if "prediction" in row:
        return row["prediction"]
    pred = row.get("pred")
    if isinstance(pred, list):
        return majority_vote(pred)[0] if len(pred) > 1 else (pred[0] if pred else None)
    return pred


def _recorded_verdicts(
    row: Mapping[str, Any], recorded_prediction: str | None, gold: str, tora_compatible: bool
) -> dict[str, bool]:
    """The verdicts the row records, by grading mode (``strict`` / ``compatible``)."""
    verdicts = {
        mode: bool(row[key])
        for mode, key in (("strict", "correct_strict"), ("compatible", "correct_compatible"))
        if isinstance(row.get(key), bool)
    }
    if verdicts:
        return verdicts
    if isinstance(row.get("correct"), bool):
        return {"compatible" if tora_compatible else "strict": row["correct"]}
    score = row.get("score")
    if isinstance(score, list) and len(score) == 1:
        score = score[0]
    if isinstance(score, bool):  # the released grader's verdict
        return {"compatible": score}
    if "pred" in row:  # released rows without a score: the recorded answer, graded as then
        return {"compatible": math_equal(recorded_prediction, gold, tora_compatible=True)}
    return {}


def _regrade_row(
    row: dict[str, Any], where: str, tora_compatible: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The regraded row and what the report needs about it."""
    gold_value = row.get("gold", row.get("gt"))
    gold = "" if gold_value is None else str(gold_value)
    trajectories = _recorded_trajectories(row, where)
    predictions = [extract_answer(t) if t else None for t in trajectories]
    if len(predictions) == 1:
        prediction: str | None = predictions[0]
        votes = None
    else:
        prediction, votes = majority_vote(predictions)
    strict, compatible = _grade(prediction, gold)
    verdicts = {"strict": strict, "compatible": compatible}
    recorded_prediction = _recorded_prediction(row)
    recorded = _recorded_verdicts(row, recorded_prediction, gold, tora_compatible)

    regraded = dict(row)
    if isinstance(row.get("samples"), list):
        regraded["samples"] = [
            {
                **sample,
                "prediction": p,
                "correct": math_equal(p, gold, tora_compatible=tora_compatible),
            }
            for sample, p in zip(row["samples"], predictions, strict=True)
        ]
    if votes is not None:
        regraded["votes"] = votes
    regraded.update(
        prediction=prediction,
        correct=verdicts["compatible" if tora_compatible else "strict"],
        correct_strict=verdicts["strict"],
        correct_compatible=verdicts["compatible"],
    )
    facts = {
        "id": row.get("id", row.get("idx", where)),
        "prediction": prediction,
        "recorded_prediction": recorded_prediction,
        "gold": gold,
        "verdicts": verdicts,
        "recorded": recorded,
    }
    return regraded, facts


def _regrade_output(path: Path, output: str | Path | None) -> Path:
    name = path.with_suffix(".regraded.jsonl").name
    if output is None:
        return path.with_name(name)
    output = Path(output)
    return output if output.suffix == ".jsonl" else output / name


def regrade(
    path: str | Path,
    *,
    tora_compatible: bool = False,
    output: str | Path | None = None,
    write: bool = True,
) -> RegradeReport:
    """Re-extract the answers of recorded rows and grade them again, in both modes.

    Reads this module's rows or the released ToRA outputs (``code``: [trajectory, ...],
    ``gt``, ``pred``, ``idx``); several trajectories per row are majority-voted.  Each
    answer is extracted again with :func:`~langchain_tora.grading.extract_answer` and
    graded strictly and ToRA-compatibly; the rows, with ``prediction``, ``correct``,
    ``correct_strict`` and ``correct_compatible`` set, are written to
    ``<file stem>.regraded.jsonl`` beside the file, or to ``output`` (a ``.jsonl``
    file, else a directory).

    The report lists the rows where the two modes disagree and the rows whose verdict
    differs from the recorded one (see :class:`RegradeReport`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    target = _regrade_output(path, output) if write else None
    report = RegradeReport(path=path, output=target, tora_compatible=tora_compatible)
    regraded_rows = []
    for number, row in enumerate(read_rows(path), start=1):
        regraded, facts = _regrade_row(row, f"{path}, row {number}", tora_compatible)
        regraded_rows.append(regraded)
        verdicts = facts["verdicts"]
        report.rows += 1
        report.correct_strict += verdicts["strict"]
        report.correct_compatible += verdicts["compatible"]
        common = {"id": facts["id"], "prediction": facts["prediction"], "gold": facts["gold"]}
        if _changed(facts["recorded_prediction"], facts["prediction"]):
            report.prediction_changes.append(
                {**common, "recorded_prediction": facts["recorded_prediction"]}
            )
        if verdicts["strict"] != verdicts["compatible"]:
            report.mode_differences.append({**common, **verdicts})
        for mode, recorded in facts["recorded"].items():
            if recorded != verdicts[mode]:
                report.recorded_differences.append(
                    {
                        **common,
                        "mode": mode,
                        "recorded_prediction": facts["recorded_prediction"],
                        "recorded": recorded,
                        "regraded": verdicts[mode],
                    }
                )
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_text(target, "".join(_json_line(row) for row in regraded_rows))
    return report
