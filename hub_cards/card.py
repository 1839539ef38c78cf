"""Model cards for ToRA checkpoints, generated from facts rather than written by hand.

A card is rendered from ``templates/model_card.md.j2`` through
``huggingface_hub.ModelCard.from_template``: YAML metadata the Hub reads (``base_model``,
``datasets``, ``license``, ``library_name: transformers``, ``pipeline_tag:
text-generation``, ``tags`` and the evaluation results as a ``model-index``), then the
prompt format, how to use the model with :class:`~langchain_tora.ToRAChain` (and vLLM),
the training recipe and the results table in the paper's Table 2 layout.

Two sources of facts:

* a released checkpoint of the catalogue (:mod:`langchain_tora.models.catalogue`):
  :func:`card_for_checkpoint` (``tora card tora-code-34b``);
* a training run and its evaluation: :func:`card_for_run` reads the
  ``training_summary.json`` that ``train/sft.py`` writes and the ``metrics.json`` of
  ``tora eval`` (see :func:`read_metrics` for the formats it accepts).

Example:
    >>> from hub_cards import card_for_checkpoint
    >>> card = card_for_checkpoint("tora-code-34b")
    >>> card.data.base_model, card.data.license
    ('codellama/CodeLlama-34b-Python-hf', 'llama2')
    >>> {r.dataset_type: r.metric_value for r in card.data.eval_results}
    {'openai/gsm8k': 80.7, 'DigitalLearningGmbH/MATH-lighteval': 50.8}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_tora.datasets.benchmarks import (
    DATASETS,
    MAWPS_SUBSETS,
    PAPER_COLUMNS,
    column_title,
)
from langchain_tora.models.catalogue import (
    CATALOGUE,
    PAPER_URL,
    SOURCES,
    TORA_PROMPT_TEMPLATE,
    ReleasedCheckpoint,
    get_checkpoint,
)

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

__all__ = [
    "TEMPLATE_PATH",
    "CardSpec",
    "EvalMetrics",
    "canonical_dataset",
    "card_for_checkpoint",
    "card_for_run",
    "eval_results",
    "read_metrics",
    "read_training_summary",
    "render_card",
    "spec_for_checkpoint",
    "spec_for_run",
    "write_catalogue_cards",
]

TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "model_card.md.j2"
"""The Jinja template of every card."""

TASK_TYPE = "text-generation"
TASK_NAME = "Mathematical reasoning"
TABLE_COLUMNS: tuple[str, ...] = (*PAPER_COLUMNS, "avg")
"""The results table's columns: Table 2 of the paper (GSM8k ... MAWPS, AVG)."""

# Datasets without a Hub copy that ``tora eval`` reads: named in the model-index by these.
_EXTRA_TYPES = {"mawps": "mawps", "tabmwp": "tabmwp"}
_NON_DATASET_KEYS = frozenset(
    {"run", "grading", "samples", "scale", "model", "paper_average", "avg", "average"}
)
_ACCURACY_KEYS = ("accuracy", "acc", "score", "value")
_COUNT_KEYS = ("n", "num", "count", "total")


def _canonical_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, spec in DATASETS.items():
        for alias in (name, spec.title):
            names[alias.lower().replace("_", "-")] = name
    names.update({"mawps": "mawps", "avg": "avg", "gsm-8k": "gsm8k", "gsmhard": "gsm-hard"})
    return names


_NAMES = _canonical_names()


def canonical_dataset(name: str) -> str:
    """The dataset's name as :mod:`~langchain_tora.datasets.benchmarks` spells it.

    Titles and underscores are accepted; unknown names come back lower-cased.

    Example:
        >>> canonical_dataset("GSM_Hard"), canonical_dataset("MAWPS"), canonical_dataset("Other")
        ('gsm-hard', 'mawps', 'other')
    """
    key = name.strip().lower().replace("_", "-")
    return _NAMES.get(key, key)


# --------------------------------------------------------------------------- inputs


@dataclass
class EvalMetrics:
    """Accuracies read from a ``tora eval`` metrics file (percent, by dataset name)."""

    accuracies: dict[str, float]
    """Dataset (canonical name) -> accuracy in percent, in the file's order."""
    counts: dict[str, int] = field(default_factory=dict)
    """Dataset -> problems evaluated, where the file says."""
    grading: str | None = None
    """``strict`` or ``tora_compatible`` (which grading ``accuracy`` used), if known."""
    samples: int | None = None
    """Trajectories per problem (majority vote when more than one), if known."""
    model: str | None = None
    """The evaluated model as the run recorded it, if known."""

    def table(self) -> dict[str, float]:
        """The Table 2 columns these accuracies fill (MAWPS from its four subsets).

        AVG is given only when all seven columns are there, as in the paper.

        Example:
            >>> EvalMetrics({"gsm8k": 80.0, "math": 50.0}).table()
            {'gsm8k': 80.0, 'math': 50.0}
        """
        values = {k: v for k, v in self.accuracies.items() if k in PAPER_COLUMNS}
        if "mawps" not in values and all(s in self.accuracies for s in MAWPS_SUBSETS):
            values["mawps"] = sum(self.accuracies[s] for s in MAWPS_SUBSETS) / len(MAWPS_SUBSETS)
        table = {c: round(values[c], 4) for c in PAPER_COLUMNS if c in values}
        if len(table) == len(PAPER_COLUMNS):
            table["avg"] = round(sum(table.values()) / len(table), 4)
        return table


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _entry_accuracy(entry: Any) -> tuple[float | None, int | None]:
    if not isinstance(entry, Mapping):
        return _number(entry), None
    count = next((int(c) for k in _COUNT_KEYS if (c := _number(entry.get(k))) is not None), None)
    for key in _ACCURACY_KEYS:
        if (value := _number(entry.get(key))) is not None:
            return value, count
    correct = _number(entry.get("correct"))
    if correct is not None and count:
        return 100.0 * correct / count, count
    return None, count


def read_metrics(source: str | Path | Mapping[str, Any]) -> EvalMetrics:
    """Read the accuracies of a ``tora eval`` metrics file (a path or the parsed JSON).

    Accepted layouts (accuracies are percentages):

    * what ``tora eval`` writes: ``{"datasets": {"gsm8k": {"accuracy": 80.7, "n": 1319,
      ...}, ...}, "grading": "strict", "samples": 1, "run": {"model": ...},
      "paper_average": {...}}``;
    * a dataset's entry may be a bare number (``{"datasets": {"gsm8k": 80.7}}``), or have
      ``acc`` / ``score`` / ``value`` instead of ``accuracy``, or only ``correct`` and
      ``n`` (the accuracy is then computed);
    * no ``datasets`` block: the top-level keys are the datasets (``{"gsm8k": 80.7}``);
    * ``"scale": "fraction"`` at the top level: the values are fractions (0.807).

    Dataset names may be titles (``GSM8k``, ``GSM-Hard``) or use ``_``; entries without
    a number are skipped; ``paper_average`` and ``avg`` are not datasets (the MAWPS and
    AVG columns are recomputed by :meth:`EvalMetrics.table`).

    Example:
        >>> m = read_metrics({"datasets": {"GSM8k": {"accuracy": 80.7, "n": 1319},
        ...                                "math": {"correct": 254, "n": 500}}})
        >>> m.accuracies, m.counts
        ({'gsm8k': 80.7, 'math': 50.8}, {'gsm8k': 1319, 'math': 500})
        >>> read_metrics({"svamp": 0.705, "scale": "fraction"}).accuracies
        {'svamp': 70.5}
    """
    if isinstance(source, Mapping):
        data: Any = source
    elif not isinstance(source, str | Path):
        raise ValueError(
            f"metrics must be a path or a JSON object (datasets and their accuracies), "
            f"not {type(source).__name__}"
        )
    else:
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, Mapping):
        raise ValueError("a metrics file holds a JSON object (datasets and their accuracies)")
    block = data.get("datasets")
    entries: Mapping[str, Any] = (
        block
        if isinstance(block, Mapping)
        else {k: v for k, v in data.items() if k not in _NON_DATASET_KEYS}
    )
    scale = 100.0 if str(data.get("scale", "")).lower() == "fraction" else 1.0
    accuracies: dict[str, float] = {}
    counts: dict[str, int] = {}
    for raw_name, entry in entries.items():
        name = canonical_dataset(str(raw_name))
        if name in _NON_DATASET_KEYS:
            continue
        value, count = _entry_accuracy(entry)
        if value is None:
            continue
        accuracies[name] = round(value * scale, 4)
        if count is not None:
            counts[name] = count
    if not accuracies:
        raise ValueError(
            "no dataset accuracies found: expected {'datasets': {'gsm8k': {'accuracy': 80.7, "
            "'n': 1319}, ...}} as `tora eval` writes it"
        )
    run = data.get("run") if isinstance(data.get("run"), Mapping) else {}
    samples = _number(data.get("samples", run.get("samples")))
    grading = data.get("grading")
    return EvalMetrics(
        accuracies=accuracies,
        counts=counts,
        grading=str(grading) if grading else None,
        samples=int(samples) if samples is not None else None,
        model=str(run["model"]) if run.get("model") else None,
    )


def read_training_summary(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The training summary ``train/sft.py`` writes (``final/training_summary.json``).

    Example:
        >>> read_training_summary({"config": {"learning_rate": 2e-5}})["config"]
        {'learning_rate': 2e-05}
    """
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a training summary (a JSON object)")
    return data


# --------------------------------------------------------------------------- the spec


@dataclass
class CardSpec:
    """Everything a card says, before rendering (see :func:`render_card`)."""

    repo_id: str
    """Where the model lives (or will): ``org/name``."""
    title: str
    """The model's name: ``ToRA-Code-34B``."""
    description: str
    base_model: str | None = None
    license: str | None = None
    size: str | None = None
    """Parameter count: ``34B``, ``1.9M``."""
    prompt_template: str = TORA_PROMPT_TEMPLATE
    train_datasets: list[str] = field(default_factory=list)
    """Hub ids of the training data (metadata ``datasets``)."""
    tags: list[str] = field(default_factory=list)
    results: dict[str, float] = field(default_factory=dict)
    """Accuracy (percent) by dataset: Table 2 columns and/or single datasets."""
    counts: dict[str, int] = field(default_factory=dict)
    results_source: str = ""
    """Where the numbers come from (the model-index ``source.name``)."""
    results_source_url: str | None = None
    metric_name: str = "accuracy"
    results_notes: list[str] = field(default_factory=list)
    training: list[tuple[str, str]] = field(default_factory=list)
    """The training recipe as (item, value) rows."""
    training_notes: list[str] = field(default_factory=list)
    short_name: str | None = None
    """A short name for run directories in examples (``tora-code-34b``)."""
    result_sources: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Per dataset, a (name, url) source that differs from ``results_source``."""
    full_table: bool = False
    """Show every Table 2 column (``–`` where there is no number), not only those with one."""
    derived: set[str] = field(default_factory=set)
    """Results computed from others (MAWPS from its subsets): in the table, not the model-index."""


def _eval_result(spec: CardSpec, name: str, value: float) -> EvalResult:
    from huggingface_hub import EvalResult

    dataset = DATASETS.get(name)
    source_name, source_url = spec.result_sources.get(
        name, (spec.results_source, spec.results_source_url)
    )
    return EvalResult(
        task_type=TASK_TYPE,
        task_name=TASK_NAME,
        dataset_type=(dataset.hub_id if dataset and dataset.hub_id else _EXTRA_TYPES.get(name))
        or name,
        dataset_name=column_title(name),
        dataset_config=dataset.hub_config if dataset and dataset.hub_id else None,
        dataset_split=dataset.hub_split if dataset and dataset.hub_id else None,
        metric_type="accuracy",
        metric_name=spec.metric_name,
        metric_value=value,
        # The Hub's model-index takes a source only with its URL.
        source_name=(source_name or None) if source_url else None,
        source_url=source_url if source_name else None,
    )


def eval_results(spec: CardSpec) -> list[EvalResult]:
    """The model-index entries of a card: one per dataset result (AVG is not a dataset).

    Example:
        >>> spec = CardSpec("org/m", "M", "d", results={"gsm8k": 80.7, "avg": 70.0})
        >>> [(r.dataset_type, r.dataset_config, r.metric_value) for r in eval_results(spec)]
        [('openai/gsm8k', 'main', 80.7)]
    """
    return [
        _eval_result(spec, n, v)
        for n, v in spec.results.items()
        if n != "avg" and n not in spec.derived
    ]


def _format_number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _format_count(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(int(value))


def _results_heading(spec: CardSpec) -> str:
    if spec.result_sources:
        return (
            f"Accuracy (%), {spec.metric_name.removeprefix('accuracy').strip(' ()')}, as "
            "published by the ToRA authors (the source of each number is listed below):"
        )
    source = spec.results_source
    if source and spec.results_source_url:
        source = f"[{source}]({spec.results_source_url})"
    return f"Accuracy (%), from {source}:" if source else "Accuracy (%):"


def _view(spec: CardSpec) -> dict[str, Any]:
    table_columns = [c for c in TABLE_COLUMNS if spec.full_table or c in spec.results]
    short = spec.short_name or spec.repo_id.rsplit("/", 1)[-1]
    details = [
        {
            "title": column_title(name),
            "name": name,
            "accuracy": _format_number(value),
            "n": spec.counts.get(name, ""),
        }
        for name, value in spec.results.items()
        if name != "avg"
    ]
    return {
        "repo_id": spec.repo_id,
        "title": spec.title,
        "description": spec.description,
        "base_model": spec.base_model,
        "license": spec.license,
        "size": spec.size,
        "short_name": short,
        "prompt_template": spec.prompt_template,
        "table_header": [column_title(c) for c in table_columns],
        "table_row": [_format_number(spec.results.get(c)) for c in table_columns],
        "has_results": bool(spec.results),
        "details": details,
        "show_details": bool(spec.counts) or any(d["name"] not in TABLE_COLUMNS for d in details),
        "results_source": spec.results_source,
        "results_heading": _results_heading(spec),
        "results_source_url": spec.results_source_url,
        "results_notes": spec.results_notes,
        "training": spec.training,
        "training_notes": spec.training_notes,
        "paper_url": PAPER_URL,
    }


def render_card(spec: CardSpec) -> ModelCard:
    """Render a card: metadata (with the model-index) and the markdown body.

    Example:
        >>> card = render_card(CardSpec("org/m", "M", "A test model.", results={"gsm8k": 50.0}))
        >>> card.data.eval_results[0].metric_value, card.data.pipeline_tag
        (50.0, 'text-generation')
    """
    try:
        from huggingface_hub import ModelCard, ModelCardData
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'model cards need huggingface_hub and jinja2: pip install "langchain-tora[local]" jinja2'
        ) from error

    results = eval_results(spec)
    data = ModelCardData(
        model_name=spec.title,
        base_model=spec.base_model,
        datasets=list(spec.train_datasets) or None,
        language="en",
        license=spec.license,
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        tags=list(dict.fromkeys(["tora", "math", "tool-integrated-reasoning", *spec.tags])),
        eval_results=results or None,
    )
    return ModelCard.from_template(data, template_path=str(TEMPLATE_PATH), card=_view(spec))


# --------------------------------------------------------------------------- released checkpoints

_TORA_TRAIN_DATASETS = ["openai/gsm8k", "DigitalLearningGmbH/MATH-lighteval"]
_SOURCE_LINKS: dict[str, tuple[str, str | None]] = {
    "paper": ("ToRA paper (Gou et al., ICLR 2024), Table 2", PAPER_URL),
    "readme": (
        "ToRA release (microsoft/ToRA README, results table)",
        "https://github.com/microsoft/ToRA",
    ),
    "outputs": (
        "ToRA released outputs (microsoft/ToRA src/outputs)",
        "https://github.com/microsoft/ToRA",
    ),
}


def spec_for_checkpoint(checkpoint: str | ReleasedCheckpoint) -> CardSpec:
    """The card facts of a released checkpoint, all from the catalogue.

    Example:
        >>> spec_for_checkpoint("tora-70b").results
        {'gsm8k': 84.3, 'math': 49.7, 'tabmwp': 74.0, 'avg': 76.9}
    """
    ckpt = checkpoint if isinstance(checkpoint, ReleasedCheckpoint) else get_checkpoint(checkpoint)
    base_family = "CodeLlama-Python" if ckpt.family == "ToRA-Code" else "Llama-2"
    verified = ckpt.verified_results()
    by_source: dict[str, list[str]] = {}
    for column in verified:
        by_source.setdefault(ckpt.sources[column], []).append(column_title(column))
    notes = [f"{', '.join(cols)}: {SOURCES[key]}." for key, cols in by_source.items()]
    if len(verified) < len(TABLE_COLUMNS):
        notes.append(
            "– : no source at hand confirmed this number, so the card leaves it out (the "
            "paper's Table 2 has every column)."
        )
    notes.append(
        "AVG is the authors' mean over the ten datasets (GSM8k, MATH, GSM-Hard, SVAMP, "
        "TabMWP, ASDiv and MAWPS's SingleEQ, SingleOP, AddSub, MultiArith)."
    )
    if ckpt.note:
        notes.append(ckpt.note)
    return CardSpec(
        repo_id=ckpt.repo_id,
        title=ckpt.title,
        description=(
            f"{ckpt.title} is a released ToRA checkpoint (Tool-integrated Reasoning Agent, "
            f"Gou et al., ICLR 2024): {base_family} {ckpt.size} fine-tuned to solve math "
            "problems by interleaving natural-language reasoning with Python programs whose "
            "output it reads before going on, until the answer stands in `\\boxed{}`."
        ),
        base_model=ckpt.base_model,
        license=ckpt.license,
        size=ckpt.size,
        prompt_template=ckpt.prompt_template,
        train_datasets=list(_TORA_TRAIN_DATASETS),
        tags=["code"] if ckpt.family == "ToRA-Code" else [],
        results=verified,
        results_source="ToRA paper (Gou et al., ICLR 2024), Table 2",
        results_source_url=PAPER_URL,
        result_sources={
            column: _SOURCE_LINKS[ckpt.sources[column]]
            for column in verified
            if ckpt.sources[column] != "paper"
        },
        full_table=True,
        metric_name="accuracy (greedy, pass@1)",
        results_notes=notes,
        training=[
            ("Base model", f"[{ckpt.base_model}](https://huggingface.co/{ckpt.base_model})"),
            (
                "Data",
                "ToRA-Corpus-16k: GPT-4 tool-integrated trajectories for GSM8k and MATH "
                "training questions, then output space shaping (sampled valid trajectories "
                "and teacher-corrected ones)",
            ),
            ("Objective", "imitation learning (supervised fine-tuning) on the trajectories"),
            ("Learning rate", f"{ckpt.learning_rate:g}, linear schedule, 3% warmup"),
            ("Global batch", "128 sequences"),
            ("Epochs", "3"),
            ("Max length", "2048 tokens"),
            ("Precision", "bf16, DeepSpeed ZeRO-3"),
        ],
        training_notes=[
            "Recipe of the released training script (microsoft/ToRA `src/scripts/train.sh`); "
            f"`train/recipes/{ckpt.name}.yaml` in langchain-tora reproduces it."
        ],
        short_name=ckpt.name,
    )


def card_for_checkpoint(checkpoint: str | ReleasedCheckpoint) -> ModelCard:
    """The generated card of a released checkpoint (``tora card NAME``).

    Example:
        >>> card_for_checkpoint("tora-7b").data.model_name
        'ToRA-7B'
    """
    return render_card(spec_for_checkpoint(checkpoint))


def write_catalogue_cards(output_dir: str | Path, names: Iterable[str] | None = None) -> list[Path]:
    """Write ``<output_dir>/<name>/README.md`` for released checkpoints (default: all six).

    Example:
        >>> paths = write_catalogue_cards("cards")  # doctest: +SKIP
    """
    out = Path(output_dir)
    chosen = [get_checkpoint(n) for n in names] if names is not None else list(CATALOGUE)
    paths = []
    for ckpt in chosen:
        path = out / ckpt.name / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        card_for_checkpoint(ckpt).save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- own runs


def _recipe_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    config = summary.get("config") if isinstance(summary.get("config"), Mapping) else {}
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is not None and value != "":
            rows.append((label, str(value)))

    base = config.get("model_name_or_path")
    add("Base model", base or (config.get("model_config") and "randomly initialised"))
    add("Data", config.get("data"))
    corpus = summary.get("corpus") if isinstance(summary.get("corpus"), Mapping) else {}
    if corpus.get("kept") is not None:
        add(
            "Corpus",
            f"{corpus['kept']} of {corpus.get('rows', corpus['kept'])} records, "
            f"{_format_count(float(corpus.get('tokens') or 0))} tokens "
            f"({_format_count(float(corpus.get('supervised_tokens') or 0))} supervised)",
        )
    if config.get("mask_outputs") is not None:
        add(
            "Loss masking",
            "prompt and interpreter outputs masked"
            if config["mask_outputs"]
            else "prompt masked; interpreter outputs trained on",
        )
    if config.get("learning_rate") is not None:
        schedule = config.get("lr_scheduler_type", "")
        warmup = config.get("warmup_ratio")
        extra = ", ".join(
            p
            for p in (
                f"{schedule} schedule" if schedule else "",
                f"{warmup:.0%} warmup" if isinstance(warmup, int | float) else "",
            )
            if p
        )
        add("Learning rate", f"{config['learning_rate']:g}" + (f", {extra}" if extra else ""))
    if config.get("global_batch_size") is not None:
        detail = []
        if summary.get("world_size") is not None:
            world = summary["world_size"]
            detail.append(f"{world} process" + ("" if world == 1 else "es"))
        if config.get("per_device_batch_size") is not None:
            detail.append(f"{config['per_device_batch_size']} per device")
        if summary.get("gradient_accumulation_steps") is not None:
            steps = summary["gradient_accumulation_steps"]
            detail.append(f"{steps} accumulation step" + ("" if steps == 1 else "s"))
        add(
            "Global batch",
            f"{config['global_batch_size']} sequences"
            + (f" ({', '.join(detail)})" if detail else ""),
        )
    steps = summary.get("global_steps")
    epochs = summary.get("epochs")
    if steps is not None or epochs is not None:
        parts = []
        if steps is not None:
            parts.append(f"{steps} optimizer steps")
        if isinstance(epochs, int | float):
            parts.append(f"{epochs:.2f} epochs")
        add("Length", ", ".join(parts))
    add("Max length", config.get("max_length") and f"{config['max_length']} tokens")
    if config.get("weight_decay") is not None:
        add("Weight decay", config["weight_decay"])
    if config.get("bf16") is not None:
        add("Precision", "bf16" if config["bf16"] else "fp32")
    add("Seed", config.get("seed"))
    if isinstance(summary.get("train_loss"), int | float):
        final = summary.get("final_loss")
        add(
            "Loss",
            f"{summary['train_loss']:.4f} mean"
            + (f", {final:.4f} last logged" if isinstance(final, int | float) else ""),
        )
    if isinstance(summary.get("train_seconds"), int | float):
        speed = summary.get("tokens_per_second")
        add(
            "Time",
            f"{summary['train_seconds'] / 3600:.2f} h"
            + (f" ({speed:,.0f} tokens/s)" if isinstance(speed, int | float) else ""),
        )
    versions = summary.get("versions")
    if isinstance(versions, Mapping) and versions:
        add("Software", ", ".join(f"{k} {v}" for k, v in versions.items()))
    return rows


def _looks_like_hub_id(value: Any) -> bool:
    if not isinstance(value, str) or value.count("/") != 1 or Path(value).exists():
        return False
    return not value.endswith((".json", ".jsonl", ".parquet", ".csv")) and not value.startswith(
        (".", "/", "~")
    )


def spec_for_run(
    repo_id: str,
    *,
    summary: str | Path | Mapping[str, Any] | None = None,
    metrics: str | Path | Mapping[str, Any] | EvalMetrics | None = None,
    base_model: str | None = None,
    title: str | None = None,
    license: str | None = None,
    train_datasets: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    description: str | None = None,
) -> CardSpec:
    """The card facts of a model trained here, from its training summary and eval metrics.

    ``base_model`` defaults to the summary's ``config.model_name_or_path``; ``license``
    to ``llama2`` when the base model is a Llama-2 / CodeLlama model (else none is
    claimed); ``train_datasets`` to the summary's ``config.data`` when it is a Hub
    dataset id.

    Example:
        >>> spec = spec_for_run("me/tora-code-7b-repro",
        ...                     summary={"config": {"model_name_or_path": "codellama/CodeLlama-7b-Python-hf"}},
        ...                     metrics={"datasets": {"gsm8k": {"accuracy": 71.9, "n": 1319}}})
        >>> spec.base_model, spec.license, spec.results
        ('codellama/CodeLlama-7b-Python-hf', 'llama2', {'gsm8k': 71.9})
    """
    facts = read_training_summary(summary) if summary is not None else {}
    config = facts.get("config") if isinstance(facts.get("config"), Mapping) else {}
    evaluation = (
        metrics
        if isinstance(metrics, EvalMetrics)
        else read_metrics(metrics)
        if metrics is not None
        else None
    )
    base = base_model or config.get("model_name_or_path") or None
    if base is not None and not _looks_like_hub_id(base):
        base = None  # a local path is no base_model the Hub can link
    if license is None and base and ("llama-2" in base.lower() or "codellama" in base.lower()):
        license = "llama2"
    if train_datasets is None:
        data = config.get("data")
        train_datasets = [data] if _looks_like_hub_id(data) else []
    name = title or repo_id.rsplit("/", 1)[-1]
    params = facts.get("parameters")
    results: dict[str, float] = {}
    counts: dict[str, int] = {}
    notes: list[str] = []
    metric_name = "accuracy"
    derived: set[str] = set()
    if evaluation is not None:
        table = evaluation.table()
        results = {**table}
        results.update(
            (k, v) for k, v in evaluation.accuracies.items() if k not in results and k != "avg"
        )
        counts = dict(evaluation.counts)
        derived = {k for k in results if k not in evaluation.accuracies}
        grading = {"strict": "strict", "tora_compatible": "ToRA-compatible"}.get(
            evaluation.grading or "", evaluation.grading
        )
        mode = []
        if grading:
            mode.append(f"{grading} grading")
        if evaluation.samples and evaluation.samples > 1:
            mode.append(f"majority vote of {evaluation.samples} samples")
        if mode:
            metric_name = f"accuracy ({', '.join(mode)})"
            notes.append(f"Accuracy in percent, {', '.join(mode)}.")
        if "avg" not in results:
            notes.append(
                "AVG needs all seven Table 2 columns; it is left out until every dataset is "
                "evaluated."
            )
        notes.append(
            "Measured with `tora eval` (langchain-tora); MAWPS is the mean of SingleEQ, "
            "SingleOP, AddSub and MultiArith."
        )
    return CardSpec(
        repo_id=repo_id,
        title=name,
        description=description
        or (
            f"{name} is a ToRA-style model (Tool-integrated Reasoning Agent, Gou et al., ICLR "
            "2024) trained with langchain-tora: it solves math problems by interleaving "
            "natural-language reasoning with Python programs whose output it reads before "
            "going on, until the answer stands in `\\boxed{}`."
        ),
        base_model=base,
        license=license,
        size=_format_count(float(params)) if isinstance(params, int | float) else None,
        train_datasets=list(train_datasets),
        tags=list(tags),
        results=results,
        counts=counts,
        results_source="tora eval (langchain-tora)" if evaluation is not None else "",
        metric_name=metric_name,
        results_notes=notes,
        derived=derived,
        training=_recipe_rows(facts),
        training_notes=["From `training_summary.json` written by `train/sft.py`."] if facts else [],
    )


def card_for_run(repo_id: str, **kwargs: Any) -> ModelCard:
    """The generated card of a model trained here (see :func:`spec_for_run`).

    Example:
        >>> card = card_for_run("me/m", metrics={"datasets": {"gsm8k": {"accuracy": 12.5}}})
        >>> card.data.eval_results[0].metric_value
        12.5
    """
    return render_card(spec_for_run(repo_id, **kwargs))
