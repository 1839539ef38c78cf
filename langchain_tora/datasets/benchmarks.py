"""The evaluation datasets of the ToRA paper: what each one is and how to read it.

ToRA (Gou et al., ICLR 2024) reports accuracy on ten datasets (Table 2): GSM8k, MATH,
GSM-Hard, SVAMP, TabMWP, ASDiv and MAWPS, where MAWPS is the mean of its four subsets
SingleEQ, SingleOP, AddSub and MultiArith, and AVG is the mean of those seven columns.
Every dataset here is a :class:`DatasetSpec` in :data:`DATASETS` that turns one raw row
into a :class:`Problem` (an id, the question as the model sees it and the gold answer as
a string ready for :func:`~langchain_tora.grading.math_equal`).

Rows are read from ``<data dir>/eval/<name>/test.jsonl`` (the data dir is
``$TORA_DATA_DIR``, by default ``../shared/data``; see :mod:`langchain_tora.datasets`)
or, when there is no local copy, from the Hugging Face Hub (``datasets`` is imported
only then).

How each dataset is read (the questions are built as the paper's evaluation did):

========== ============================================ ==================================
dataset    question                                     gold
========== ============================================ ==================================
gsm8k      ``question``                                 after ``####`` in ``answer``,
                                                        commas removed
math       ``problem``                                  last ``\\boxed{}`` of ``solution``
gsm-hard   ``input``                                    ``target`` (a float) as text
svamp      ``Body`` (+ "." if missing) ``Question``     ``Answer`` as text
asdiv      ``body`` ``question``                        ``answer`` less its "(unit)"
tabmwp     "Read the following table ..." + ``table``   ``answer``; numbers normalised
           + ``question`` [+ the options]               (see :func:`tabmwp_gold`)
singleeq,  ``input``                                    ``target`` as text
singleop,
addsub,
multiarith
========== ============================================ ==================================

Numbers become plain decimal text: ``43.0`` -> ``"43"``, ``5.158e-07`` ->
``"0.0000005158"``, ``3244047.0999999996`` stays as it is.

Example:
    >>> from langchain_tora.datasets.benchmarks import DATASETS, paper_average, resolve_datasets
    >>> resolve_datasets("gsm8k,mawps")
    ['gsm8k', 'singleeq', 'singleop', 'addsub', 'multiarith']
    >>> row = {"question": "1 + 1?", "answer": "One and one make 2.\\n#### 2"}
    >>> DATASETS["gsm8k"].parse_row(row, 0)
    Problem(id='gsm8k/0', dataset='gsm8k', question='1 + 1?', gold='2', meta={})
    >>> paper_average({"gsm8k": 80.0, "math": 50.0, "singleeq": 90.0, "singleop": 94.0,
    ...                "addsub": 92.0, "multiarith": 100.0})
    {'gsm8k': 80.0, 'math': 50.0, 'mawps': 94.0, 'avg': 74.66666666666667}

    Loading needs the data (or the network)::

        problems = load_problems("gsm8k", limit=10)      # local copy, else the Hub
        problems = load_problems("svamp", source="local", data_dir="/data/tora")
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from langchain_tora.datasets import DATA_DIR_ENV, data_dir

__all__ = [
    "DATASETS",
    "MAWPS_SUBSETS",
    "PAPER_COLUMNS",
    "PAPER_DATASETS",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "Problem",
    "column_title",
    "load_problems",
    "number_text",
    "paper_average",
    "resolve_datasets",
    "tabmwp_gold",
]


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Problem:
    """One evaluation problem.

    Example:
        >>> p = Problem(id="gsm8k/0", dataset="gsm8k", question="1 + 1?", gold="2")
        >>> p.gold, p.meta
        ('2', {})
    """

    id: str
    """Stable id: ``"<dataset>/<row index>"`` (0-based position of the row in its source)."""
    dataset: str
    """Dataset name, e.g. ``"gsm8k"`` or ``"singleeq"``."""
    question: str
    """The question exactly as the model is asked it."""
    gold: str
    """The gold answer as text, ready for ``math_equal(pred, gold)``."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts: ``level``/``type`` for MATH, ``ans_type``/``choices`` for TabMWP, ..."""


class DatasetFormatError(ValueError):
    """A row that cannot be read: says which file, which line (or row) and which field.

    Example:
        >>> str(DatasetFormatError("missing field 'answer'", path="t.jsonl", line=3, field="answer"))
        "t.jsonl, line 3: missing field 'answer'"
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        row: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else Path(path)
        self.line = line
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(self.path)] if self.path is not None else []
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset could be read (no local file, and the Hub was not usable)."""


Parser = Callable[[Mapping[str, Any]], tuple[str, str, dict[str, Any]]]
"""Turns a raw row into ``(question, gold, meta)``; raises :class:`DatasetFormatError`."""


@dataclass(frozen=True)
class DatasetSpec:
    """One evaluation dataset of the paper: names, where to find it, how to read a row.

    Example:
        >>> spec = DATASETS["svamp"]
        >>> spec.title, spec.hub_id, spec.hub_split, spec.num_rows
        ('SVAMP', 'tongyx361/svamp', 'test', 1000)
        >>> row = {"Body": "Tom has 3 apples", "Question": "How many?", "Answer": 3.0}
        >>> p = spec.parse_row(row, 5)
        >>> p.id, p.question, p.gold
        ('svamp/5', 'Tom has 3 apples. How many?', '3')
    """

    name: str
    """Short name used everywhere (directory, ids, CLI): ``"gsm8k"``, ``"gsm-hard"``, ..."""
    title: str
    """The column title in the paper's Table 2 (``"GSM8k"``, ``"GSM-Hard"``, ...)."""
    hub_id: str | None
    """A Hugging Face Hub dataset to read when there is no local copy (None: none known)."""
    group: str | None
    """``"mawps"`` for the four MAWPS subsets, else None."""
    parser: Parser = field(repr=False, compare=False)
    """Row parser (use :meth:`parse_row`)."""
    hub_config: str | None = None
    """The Hub dataset's configuration (``"main"`` for ``openai/gsm8k``)."""
    hub_split: str = "test"
    """The Hub dataset's split."""
    num_rows: int | None = None
    """Rows of the test set the paper used."""
    hub_note: str = ""
    """How the Hub copy differs from the paper's file, or where to get the data."""

    def parse_row(self, row: Mapping[str, Any], index: int) -> Problem:
        """The :class:`Problem` of a raw row (``index``: its 0-based position).

        Raises:
            DatasetFormatError: a field is missing, empty or unusable (the error names
                the field; :func:`load_problems` adds the file and the line).
        """
        if not isinstance(row, Mapping):
            raise DatasetFormatError(f"a row must be a JSON object, not {type(row).__name__}")
        question, gold, meta = self.parser(row)
        if not question:
            raise DatasetFormatError("the question is empty")
        if not gold:
            raise DatasetFormatError("the gold answer is empty")
        return Problem(
            id=f"{self.name}/{index}", dataset=self.name, question=question, gold=gold, meta=meta
        )

    def local_path(self, data_dir: str | Path | None = None) -> Path:
        """Where the local copy lives: ``<data_dir>/eval/<name>/test.jsonl``.

        Example:
            >>> DATASETS["math"].local_path("/data")
            PosixPath('/data/eval/math/test.jsonl')
        """
        root = Path(data_dir).expanduser() if data_dir is not None else _default_data_dir()
        return root / "eval" / self.name / "test.jsonl"


def _default_data_dir() -> Path:
    return data_dir()


# --------------------------------------------------------------------------- row helpers


def _field(row: Mapping[str, Any], name: str) -> Any:
    """A required field (present and not null)."""
    if name not in row:
        present = ", ".join(sorted(map(str, row))) or "none"
        raise DatasetFormatError(f"missing field {name!r} (fields: {present})", field=name)
    value = row[name]
    if value is None:
        raise DatasetFormatError(f"field {name!r} is null", field=name)
    return value


def _text(row: Mapping[str, Any], name: str) -> str:
    """A required text field, stripped; must not be empty."""
    value = _field(row, name)
    if not isinstance(value, str):
        raise DatasetFormatError(
            f"field {name!r} must be text, not {type(value).__name__}", field=name
        )
    value = value.strip()
    if not value:
        raise DatasetFormatError(f"field {name!r} is empty", field=name)
    return value


def _decimal_text(value: Decimal) -> str:
    """Plain decimal text: integers without a fraction part, no exponent."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def number_text(value: Any) -> str | None:
    """A number (int, float or numeric text) as plain decimal text; None if not a number.

    Example:
        >>> number_text(43.0), number_text(5.158e-07), number_text(3244047.0999999996)
        ('43', '0.0000005158', '3244047.0999999996')
        >>> number_text("1,250.50"), number_text("-0.0"), number_text("apples")
        ('1250.5', '0', None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            return None
        try:
            return _decimal_text(Decimal(text))
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return None
    return None


def _number_field(row: Mapping[str, Any], name: str) -> str:
    """A required numeric field as plain decimal text (non-numeric text is kept as is)."""
    value = _field(row, name)
    text = number_text(value)
    if text is not None:
        return text
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DatasetFormatError(f"field {name!r} is not a number: {value!r}", field=name)


# --------------------------------------------------------------------------- parsers


def _parse_gsm8k(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    question = _text(row, "question")
    answer = _text(row, "answer")
    if "####" not in answer:
        raise DatasetFormatError("field 'answer' has no '#### <answer>' line", field="answer")
    gold = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return question, gold, {}


def _parse_math(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    from langchain_tora.grading import extract_answer

    question = _text(row, "problem")
    solution = _text(row, "solution")
    gold = extract_answer(solution) if ("\\boxed" in solution or "\\fbox" in solution) else None
    if not gold:
        raise DatasetFormatError(
            "field 'solution' has no complete \\boxed{...} answer", field="solution"
        )
    meta = {key: row[key] for key in ("level", "type") if row.get(key) is not None}
    return question, gold, meta


def _parse_gsm_hard(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    return _text(row, "input"), _number_field(row, "target"), {}


def _parse_svamp(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    body = _text(row, "Body")
    if not body.endswith("."):
        body += "."
    question = f"{body} {_text(row, 'Question')}"
    meta = {}
    if row.get("ID") is not None:
        meta["source_id"] = row["ID"]
    if row.get("Type") is not None:
        meta["type"] = row["Type"]
    return question, _number_field(row, "Answer"), meta


# "9 (apples)" -> "9".  Only a trailing parenthesised *unit* (it has a letter) goes:
# "-(1/3)" stays "-(1/3)" (removing every "(...)" would leave the gold "-").
_ASDIV_UNIT = re.compile(r"\s*\([^()]*[^\W\d_][^()]*\)\s*$")


def _parse_asdiv(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    question = f"{_text(row, 'body')} {_text(row, 'question')}"
    raw = _field(row, "answer")
    if not isinstance(raw, str):
        raw = number_text(raw) or str(raw)
    gold = _ASDIV_UNIT.sub("", raw).strip()
    if not gold:
        raise DatasetFormatError(f"field 'answer' has no value: {raw!r}", field="answer")
    meta: dict[str, Any] = {"raw_answer": raw}
    if row.get("solution_type") is not None:
        meta["solution_type"] = row["solution_type"]
    return question, gold, meta


def _parse_mawps(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    return _text(row, "input"), _number_field(row, "target"), {}


_NUMERIC_ANS_TYPES = frozenset({"integer_number", "decimal_number"})
TABMWP_ANS_TYPES = (
    "integer_number",
    "decimal_number",
    "extractive_text",
    "boolean_text",
    "other_text",
)
"""The ``ans_type`` values of TabMWP."""


def tabmwp_gold(answer: str, ans_type: str) -> str:
    """The gold answer of a TabMWP row.

    Text answers (``extractive_text``, ``boolean_text``, ``other_text``) are kept as
    they are (stripped).  Numeric answers (``integer_number``, ``decimal_number``)
    become plain decimal text: thousands separators and a leading ``$`` go, a fraction
    ``a/b`` becomes its decimal value (as the paper did), and a percentage keeps its
    number: ``"25%"`` -> ``"25"``.

    The paper divided percentages by 100 (``"25%"`` -> 0.25) and relied on its grader
    accepting ``pred * 100 == gold``-style matches; this project's ``math_equal``
    treats ``%`` as a unit (``math_equal("25\\\\%", "25")`` is True, ``"0.25"`` only
    matches with ``tora_compatible=True``), so the number a model writes for "what
    percent" is kept.  A numeric answer that does not parse is kept as text.

    Example:
        >>> tabmwp_gold("1,234", "integer_number"), tabmwp_gold("12.50", "decimal_number")
        ('1234', '12.5')
        >>> tabmwp_gold("1/4", "decimal_number"), tabmwp_gold("2/3", "integer_number")
        ('0.25', '0.6666666666666666')
        >>> tabmwp_gold("25%", "decimal_number"), tabmwp_gold(" Tuesday ", "extractive_text")
        ('25', 'Tuesday')
    """
    text = answer.strip()
    if ans_type not in _NUMERIC_ANS_TYPES:
        return text
    number = text.replace(",", "").removeprefix("$").strip()
    if number.endswith("%"):
        number = number[:-1].strip()
    if "/" in number:
        try:
            return number_text(float(Fraction(number))) or text
        except (ValueError, ZeroDivisionError):
            return text
    return number_text(number) or text


def _parse_tabmwp(row: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    table = _field(row, "table")
    if not isinstance(table, str) or not table.strip():
        raise DatasetFormatError("field 'table' must be non-empty text", field="table")
    title = row.get("table_title")
    title = title.strip() if isinstance(title, str) else ""
    regarding = f'regarding "{title}" ' if title else ""
    question = (
        f"Read the following table {regarding}and answer a question:\n"
        f"{table}\n{_text(row, 'question')}"
    )
    choices = row.get("choices")
    if isinstance(choices, str):  # a list stored as text, kept as written
        choices = choices.strip() or None
    elif choices is not None:
        choices = list(choices) or None
    if choices:
        question += f" Please select from the following options: {choices}"
    ans_type = _text(row, "ans_type")
    raw = _field(row, "answer")
    raw = raw if isinstance(raw, str) else (number_text(raw) or str(raw))
    meta: dict[str, Any] = {
        "ans_type": ans_type,
        "choices": choices,
        "unit": row.get("unit") or None,
        "table_title": title or None,
        "raw_answer": raw,
    }
    for key in ("ques_type", "grade"):
        if row.get(key) is not None:
            meta[key] = row[key]
    if "%" in raw:
        meta["percent"] = True
    return question.strip(), tabmwp_gold(raw, ans_type), meta


# --------------------------------------------------------------------------- registry

MAWPS_SUBSETS: tuple[str, ...] = ("singleeq", "singleop", "addsub", "multiarith")
"""The four MAWPS subsets; the paper's MAWPS column is the mean of their accuracies."""

_MAWPS_NOTE = (
    "ToRA's MAWPS subset files (microsoft/ToRA src/data/mawps) have no Hub copy: use the local file"
)

_SPECS = (
    DatasetSpec(
        "gsm8k",
        "GSM8k",
        "openai/gsm8k",
        None,
        _parse_gsm8k,
        hub_config="main",
        num_rows=1319,
        hub_note="the GSM8K test set, as in the paper's file",
    ),
    DatasetSpec(
        "math",
        "MATH",
        "DigitalLearningGmbH/MATH-lighteval",
        None,
        _parse_math,
        hub_config="default",
        num_rows=5000,
        hub_note=(
            "a mirror of the 5000 MATH test problems (hendrycks/competition_math is "
            "no longer on the Hub); the row order may differ from the paper's file"
        ),
    ),
    DatasetSpec(
        "gsm-hard",
        "GSM-Hard",
        "reasoning-machines/gsm-hard",
        None,
        _parse_gsm_hard,
        hub_split="train",
        num_rows=1319,
        hub_note="its only split is 'train' (the 1319 test problems)",
    ),
    DatasetSpec(
        "svamp",
        "SVAMP",
        "tongyx361/svamp",
        None,
        _parse_svamp,
        num_rows=1000,
        hub_note="a community copy of all 1000 SVAMP problems with the original fields",
    ),
    DatasetSpec(
        "tabmwp",
        "TabMWP",
        None,
        None,
        _parse_tabmwp,
        num_rows=1000,
        hub_note=(
            "the paper used TabMWP test1k (lupantech/PromptPG data/tabmwp/"
            "problems_test1k.json); save it as eval/tabmwp/test.json (a JSON object "
            "of rows keyed by id is read as is) or as JSON lines in eval/tabmwp/test.jsonl"
        ),
    ),
    DatasetSpec(
        "asdiv",
        "ASDiv",
        "EleutherAI/asdiv",
        None,
        _parse_asdiv,
        hub_split="validation",
        num_rows=2215,
        hub_note=("the Hub copy has all 2305 ASDiv problems; the paper's file keeps 2215 of them"),
    ),
    DatasetSpec(
        "singleeq", "SingleEQ", None, "mawps", _parse_mawps, num_rows=508, hub_note=_MAWPS_NOTE
    ),
    DatasetSpec(
        "singleop", "SingleOP", None, "mawps", _parse_mawps, num_rows=562, hub_note=_MAWPS_NOTE
    ),
    DatasetSpec(
        "addsub", "AddSub", None, "mawps", _parse_mawps, num_rows=395, hub_note=_MAWPS_NOTE
    ),
    DatasetSpec(
        "multiarith", "MultiArith", None, "mawps", _parse_mawps, num_rows=600, hub_note=_MAWPS_NOTE
    ),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}
"""The ten evaluation datasets (MAWPS as its four subsets), by name, in Table 2 order."""

PAPER_DATASETS: tuple[str, ...] = tuple(DATASETS)
"""Dataset names in the column order of the paper's Table 2 (GSM8k, MATH, GSM-Hard,
SVAMP, TabMWP, ASDiv, then MAWPS's subsets SingleEQ, SingleOP, AddSub, MultiArith)."""

PAPER_COLUMNS: tuple[str, ...] = ("gsm8k", "math", "gsm-hard", "svamp", "tabmwp", "asdiv", "mawps")
"""The accuracy columns of Table 2 whose mean is its AVG column."""

_GROUPS: dict[str, tuple[str, ...]] = {"mawps": MAWPS_SUBSETS, "all": PAPER_DATASETS}
_TITLES: dict[str, str] = {
    **{spec.name: spec.title for spec in _SPECS},
    "mawps": "MAWPS",
    "avg": "AVG",
}


def column_title(name: str) -> str:
    """The Table 2 title of a dataset or column name (unknown names are returned as is).

    Example:
        >>> column_title("gsm-hard"), column_title("mawps"), column_title("avg")
        ('GSM-Hard', 'MAWPS', 'AVG')
    """
    return _TITLES.get(name, name)


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    aliases = {title.lower(): known for known, title in _TITLES.items()}
    return aliases.get(key, key)


def resolve_datasets(names: str | Sequence[str]) -> list[str]:
    """Expand dataset names: ``"all"``, ``"mawps"`` (its four subsets), comma lists.

    Names are case-insensitive and may be Table 2 titles; duplicates are dropped and
    the first order kept.

    Example:
        >>> resolve_datasets("GSM8k, math,mawps")
        ['gsm8k', 'math', 'singleeq', 'singleop', 'addsub', 'multiarith']
        >>> resolve_datasets(["svamp", "svamp"])
        ['svamp']
        >>> len(resolve_datasets("all"))
        10

    Raises:
        ValueError: an unknown name (the message lists the known ones), or no name.
    """
    items = [names] if isinstance(names, str) else list(names)
    resolved: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            key = _canonical(part)
            if key in _GROUPS:
                expanded = _GROUPS[key]
            elif key in DATASETS:
                expanded = (key,)
            else:
                known = ", ".join([*DATASETS, "mawps", "all"])
                raise ValueError(f"unknown dataset {part.strip()!r}: known datasets are {known}")
            resolved.extend(name for name in expanded if name not in resolved)
    if not resolved:
        raise ValueError("no dataset named: give a name such as 'gsm8k', 'mawps' or 'all'")
    return resolved


# --------------------------------------------------------------------------- loading


def _local_rows(path: Path) -> Iterator[tuple[Mapping[str, Any], DatasetFormatError]]:
    """Rows of a JSON-lines file (or, for ``.json``, a list or an id-keyed object).

    Yields each row with an error carrying its location, to be filled in by the caller.
    """
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(
                f"not valid JSON: {exc.msg}", path=path, line=exc.lineno
            ) from exc
        if not isinstance(data, dict | list):
            raise DatasetFormatError("expected a JSON list or object of rows", path=path)
        entries = data.items() if isinstance(data, dict) else enumerate(data)
        for key, row in entries:
            yield row, DatasetFormatError("", path=path, row=key)
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(
                    f"not valid JSON: {exc.msg} (column {exc.colno})", path=path, line=number
                ) from exc
            yield row, DatasetFormatError("", path=path, line=number)


def _parse_all(
    spec: DatasetSpec,
    rows: Iterator[tuple[Mapping[str, Any], DatasetFormatError]],
    limit: int | None,
) -> list[Problem]:
    problems: list[Problem] = []
    if limit == 0:
        return problems
    for index, (row, where) in enumerate(rows):
        try:
            problem = spec.parse_row(row, index)
        except DatasetFormatError as exc:
            raise DatasetFormatError(
                f"{spec.name}: {exc.message}",
                path=where.path,
                line=where.line,
                row=where.row if where.row is not None else index,
                field=exc.field,
            ) from None
        if where.row is not None and where.path is not None and where.path.suffix == ".json":
            problem.meta.setdefault("source_id", where.row)
        problems.append(problem)
        if limit is not None and len(problems) >= limit:
            break
    return problems


def _hub_rows(
    spec: DatasetSpec, local: Path
) -> Iterator[tuple[Mapping[str, Any], DatasetFormatError]]:
    where = f"put the file at {local} or set {DATA_DIR_ENV} / --data-dir to a directory holding eval/{spec.name}/test.jsonl"
    if spec.hub_id is None:
        note = f" ({spec.hub_note})" if spec.hub_note else ""
        raise DatasetNotFoundError(
            f"{spec.title} has no local copy and no known Hub copy{note}: {where}"
        )
    try:
        import datasets
    except ImportError as exc:
        raise DatasetNotFoundError(
            f"{spec.title}: no local copy, and reading the Hub copy {spec.hub_id} needs the "
            f"'datasets' package (pip install datasets): {where}"
        ) from exc
    try:
        loaded = datasets.load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split)
    except Exception as exc:
        raise DatasetNotFoundError(
            f"{spec.title}: no local copy, and the Hub copy {spec.hub_id} "
            f"(config {spec.hub_config}, split {spec.hub_split}) could not be loaded "
            f"({type(exc).__name__}: {exc}): {where}, or go online"
        ) from exc
    label = f"hub:{spec.hub_id}"
    for index, row in enumerate(loaded):
        yield row, DatasetFormatError("", path=label, row=index)


def load_problems(
    name: str,
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    source: Literal["auto", "local", "hub"] = "auto",
) -> list[Problem]:
    """The problems of one dataset, in file order.

    Args:
        name: a dataset name of :data:`DATASETS` (case-insensitive, titles accepted).
        data_dir: the reference data directory (default: :func:`~langchain_tora.datasets.data_dir`,
            i.e. ``$TORA_DATA_DIR`` or ``../shared/data``); the file read is
            ``<data_dir>/eval/<name>/test.jsonl`` (for TabMWP also ``test.json``, the
            id-keyed JSON of the TabMWP release).
        limit: read at most this many problems (the first ones).
        source: ``"local"`` only the file, ``"hub"`` only the Hub copy
            (:attr:`DatasetSpec.hub_id`), ``"auto"`` the file when it exists, else the Hub.

    Raises:
        ValueError: an unknown name, a bad ``source`` or a negative ``limit``.
        DatasetNotFoundError: (a ``FileNotFoundError``) no copy could be read; the
            message says where to put the file.
        DatasetFormatError: a malformed row (the message names the file, the line and
            the field).

    Example:
        >>> problems = load_problems("gsm8k", limit=2)  # doctest: +SKIP
        >>> problems[0].id, problems[0].gold  # doctest: +SKIP
        ('gsm8k/0', '18')
    """
    key = _canonical(name)
    if key not in DATASETS:
        known = ", ".join(DATASETS)
        raise ValueError(f"unknown dataset {name!r}: known datasets are {known}")
    if source not in ("auto", "local", "hub"):
        raise ValueError(f"source must be 'auto', 'local' or 'hub', not {source!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    spec = DATASETS[key]
    path = spec.local_path(data_dir)
    if source != "hub":
        for candidate in (path, path.with_suffix(".json")):
            if candidate.is_file():
                return _parse_all(spec, _local_rows(candidate), limit)
        if source == "local":
            raise DatasetNotFoundError(
                f"{path} does not exist: put the {spec.title} test set there (JSON lines, "
                f"one row per problem) or set {DATA_DIR_ENV} / --data-dir to a directory "
                f"holding eval/{spec.name}/test.jsonl"
                + (f" ({spec.hub_note})" if spec.hub_id is None and spec.hub_note else "")
            )
    return _parse_all(spec, _hub_rows(spec, path), limit)


# --------------------------------------------------------------------------- reporting


def paper_average(accuracies: Mapping[str, float]) -> dict[str, float]:
    """Collapse the MAWPS subsets into ``"mawps"`` and add the ``"avg"`` column of Table 2.

    ``"mawps"`` is the mean of the four subsets' accuracies (all four are needed; with
    only some of them they are kept as they are and there is no MAWPS column).
    ``"avg"`` is the mean over the columns of :data:`PAPER_COLUMNS` that are present
    (GSM8k, MATH, GSM-Hard, SVAMP, TabMWP, ASDiv, MAWPS).  The result lists the paper's
    columns in Table 2 order, then any other entries, then ``"avg"``.  Any scale works
    (fractions or percentages) as long as it is the same for all.

    Example:
        >>> paper_average({"singleeq": 90, "singleop": 92, "addsub": 88, "multiarith": 98,
        ...                "svamp": 70, "gsm8k": 80})
        {'gsm8k': 80.0, 'svamp': 70.0, 'mawps': 92.0, 'avg': 80.66666666666667}
        >>> paper_average({"addsub": 0.9})
        {'addsub': 0.9}

    Raises:
        ValueError: an unknown name, or a ``"mawps"`` entry that disagrees with its subsets.
    """
    values: dict[str, float] = {}
    for name, value in accuracies.items():
        key = _canonical(name)
        if key not in DATASETS and key not in ("mawps", "avg"):
            known = ", ".join([*DATASETS, "mawps"])
            raise ValueError(f"unknown dataset {name!r}: known datasets are {known}")
        if key != "avg":
            values[key] = float(value)
    if all(subset in values for subset in MAWPS_SUBSETS):
        mean = sum(values.pop(subset) for subset in MAWPS_SUBSETS) / len(MAWPS_SUBSETS)
        if "mawps" in values and not math.isclose(values["mawps"], mean, abs_tol=1e-9):
            raise ValueError(
                f"'mawps' is {values['mawps']} but the mean of its four subsets is {mean}"
            )
        values["mawps"] = mean
    result = {column: values[column] for column in PAPER_COLUMNS if column in values}
    result.update((name, value) for name, value in values.items() if name not in result)
    present = [result[column] for column in PAPER_COLUMNS if column in result]
    if present:
        result["avg"] = sum(present) / len(present)
    return result
