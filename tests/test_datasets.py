"""The paper's evaluation datasets: registry, row parsing, loading and the Table 2 average."""

from __future__ import annotations

import doctest
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from langchain_tora.datasets import benchmarks
from langchain_tora.datasets.benchmarks import (
    DATASETS,
    MAWPS_SUBSETS,
    PAPER_COLUMNS,
    PAPER_DATASETS,
    DatasetFormatError,
    DatasetNotFoundError,
    Problem,
    column_title,
    load_problems,
    paper_average,
    resolve_datasets,
    tabmwp_gold,
)
from langchain_tora.grading import math_equal

LOCAL_COUNTS = {
    "gsm8k": 1319,
    "math": 5000,
    "gsm-hard": 1319,
    "svamp": 1000,
    "asdiv": 2215,
    "singleeq": 508,
    "singleop": 562,
    "addsub": 395,
    "multiarith": 600,
}


@pytest.fixture(scope="module")
def local(shared_data: Path) -> dict[str, list[Problem]]:
    """Every local dataset, read once."""
    return {
        name: load_problems(name, data_dir=shared_data, source="local") for name in LOCAL_COUNTS
    }


def write_jsonl(path: Path, rows: list[Any], trailing_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows)
    path.write_text(text + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- registry


def test_registry_names_titles_and_order() -> None:
    assert PAPER_DATASETS == (
        "gsm8k",
        "math",
        "gsm-hard",
        "svamp",
        "tabmwp",
        "asdiv",
        "singleeq",
        "singleop",
        "addsub",
        "multiarith",
    )
    assert tuple(DATASETS) == PAPER_DATASETS
    assert [DATASETS[n].title for n in PAPER_DATASETS] == [
        "GSM8k",
        "MATH",
        "GSM-Hard",
        "SVAMP",
        "TabMWP",
        "ASDiv",
        "SingleEQ",
        "SingleOP",
        "AddSub",
        "MultiArith",
    ]
    assert [n for n, s in DATASETS.items() if s.group == "mawps"] == list(MAWPS_SUBSETS)
    assert all(spec.name == name for name, spec in DATASETS.items())
    assert DATASETS["gsm8k"].hub_id == "openai/gsm8k"
    assert (DATASETS["gsm8k"].hub_config, DATASETS["gsm8k"].hub_split) == ("main", "test")
    assert DATASETS["tabmwp"].num_rows == 1000
    assert {n: DATASETS[n].num_rows for n in LOCAL_COUNTS} == LOCAL_COUNTS
    assert column_title("mawps") == "MAWPS" and column_title("tabmwp") == "TabMWP"


def test_resolve_datasets() -> None:
    assert resolve_datasets("all") == list(PAPER_DATASETS)
    assert resolve_datasets("mawps") == list(MAWPS_SUBSETS)
    assert resolve_datasets("gsm8k, MATH,gsm_hard") == ["gsm8k", "math", "gsm-hard"]
    assert resolve_datasets(["svamp,asdiv", "SingleEQ", "svamp"]) == ["svamp", "asdiv", "singleeq"]
    assert resolve_datasets(["addsub", "mawps"]) == ["addsub", "singleeq", "singleop", "multiarith"]
    with pytest.raises(ValueError, match=r"unknown dataset 'gsm9k'.*gsm8k.*multiarith.*mawps"):
        resolve_datasets("gsm8k,gsm9k")
    with pytest.raises(ValueError, match="no dataset"):
        resolve_datasets(" , ")


def test_paper_average() -> None:
    acc = {
        "gsm8k": 80.7,
        "math": 50.8,
        "gsm-hard": 63.7,
        "svamp": 80.5,
        "tabmwp": 70.5,
        "asdiv": 84.2,
        "singleeq": 92.0,
        "singleop": 94.0,
        "addsub": 91.0,
        "multiarith": 96.0,
    }
    out = paper_average(acc)
    assert list(out) == [*PAPER_COLUMNS, "avg"]
    assert out["mawps"] == pytest.approx(93.25)
    assert out["avg"] == pytest.approx((80.7 + 50.8 + 63.7 + 80.5 + 70.5 + 84.2 + 93.25) / 7)
    # partial MAWPS: subsets kept, no MAWPS column, avg over the paper columns present
    assert paper_average({"gsm8k": 0.5, "addsub": 0.9}) == {"gsm8k": 0.5, "addsub": 0.9, "avg": 0.5}
    # an explicit MAWPS column is used as is; titles are accepted as keys
    assert paper_average({"MAWPS": 90, "GSM8k": 70}) == {"gsm8k": 70.0, "mawps": 90.0, "avg": 80.0}
    assert paper_average({}) == {}
    with pytest.raises(ValueError, match="unknown dataset"):
        paper_average({"gsm9k": 1.0})
    with pytest.raises(ValueError, match="mean of its four subsets"):
        paper_average({"mawps": 1.0, **dict.fromkeys(MAWPS_SUBSETS, 0.5)})


# --------------------------------------------------------------------------- local data


def test_local_counts_and_non_empty(local: dict[str, list[Problem]]) -> None:
    for name, count in LOCAL_COUNTS.items():
        problems = local[name]
        assert len(problems) == count, name
        assert all(p.question.strip() and p.gold.strip() for p in problems), name
        assert all(p.dataset == name for p in problems)
        assert [p.id for p in problems] == [f"{name}/{i}" for i in range(count)]


def test_gsm8k_rows(local: dict[str, list[Problem]]) -> None:
    first = local["gsm8k"][0]
    assert first.gold == "18"
    assert first.question.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert all("," not in p.gold for p in local["gsm8k"])
    assert "2125" in {p.gold for p in local["gsm8k"]}  # "#### 2,125" in the file


def test_math_rows(local: dict[str, list[Problem]]) -> None:
    problems = local["math"]
    assert problems[0].gold == "2"
    assert problems[0].meta == {"level": "Level 3", "type": "Algebra"}
    assert problems[2].gold == "\\dfrac{9}{7}"  # nested braces inside \boxed{}
    assert problems[10].gold == "\\frac{x+2}{7}"
    assert problems[2269].gold == "\\frac{7}{5} + \\frac{1}{5} i"  # "...i.}" in the file
    assert {p.meta["level"] for p in problems} == {f"Level {k}" for k in range(1, 6)}
    assert len({p.meta["type"] for p in problems}) == 7


def test_gsm_hard_rows(local: dict[str, list[Problem]]) -> None:
    problems = local["gsm-hard"]
    assert problems[0].gold == "-9867630"  # target -9867630.0
    assert "4933828" in problems[0].question
    golds = {p.id: p.gold for p in problems}
    assert golds["gsm-hard/218"] == "0.0000020107"  # 2.0107e-06, no exponent
    assert all("e" not in g.lower() for g in golds.values())


def test_svamp_rows(local: dict[str, list[Problem]]) -> None:
    first = local["svamp"][0]
    assert first.question == (
        "There are 87 oranges and 290 bananas in Philip's collection. If the bananas are "
        "organized into 2 groups and oranges are organized into 93 groups. "
        "How big is each group of bananas?"
    )
    assert first.gold == "145"
    assert first.meta["source_id"] == "chal-777"
    # a body that already ends with "." gets no second one
    second = local["svamp"][1]
    assert "30 pounds. How much" in second.question and ".." not in second.question


def test_asdiv_rows(local: dict[str, list[Problem]]) -> None:
    problems = local["asdiv"]
    assert problems[0].question == (
        "Seven red apples and two green apples are in the basket. "
        "How many apples are in the basket?"
    )
    assert problems[0].gold == "9"
    assert problems[0].meta["raw_answer"] == "9 (apples)"
    assert problems[2].question.endswith("together?")  # trailing space of the field stripped
    assert all("(" not in p.gold for p in problems if p.id != "asdiv/1313")
    assert problems[1313].gold == "-(1/3)"  # a negative fraction, not a unit
    assert math_equal("-1/3", problems[1313].gold)
    assert {"Yes", "3:30 p.m.", "5:6"} <= {p.gold for p in problems}  # non-numeric golds


def test_mawps_rows(local: dict[str, list[Problem]]) -> None:
    assert local["singleeq"][0].gold == "43"  # target 43.0
    assert local["addsub"][0].question.startswith("Joan found 70 seashells on the beach .")
    assert local["multiarith"][0].gold == "39"
    assert "3.33333" in {p.gold for p in local["singleop"]}


def test_limit(shared_data: Path) -> None:
    assert [p.id for p in load_problems("svamp", data_dir=shared_data, limit=3)] == [
        "svamp/0",
        "svamp/1",
        "svamp/2",
    ]
    assert load_problems("math", data_dir=shared_data, limit=0) == []
    assert len(load_problems("addsub", data_dir=shared_data, limit=10_000)) == 395
    with pytest.raises(ValueError, match="limit"):
        load_problems("gsm8k", data_dir=shared_data, limit=-1)


def test_default_data_dir_follows_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORA_DATA_DIR", str(shared_data))
    assert load_problems("GSM8k", limit=1)[0].gold == "18"


# --------------------------------------------------------------------------- errors


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_problems("gsm8k", data_dir=tmp_path, source="local")
    message = str(info.value)
    assert str(tmp_path / "eval" / "gsm8k" / "test.jsonl") in message
    assert "TORA_DATA_DIR" in message and "--data-dir" in message
    assert isinstance(info.value, FileNotFoundError)


def test_unknown_name_and_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known datasets are gsm8k"):
        load_problems("mawps", data_dir=tmp_path)
    with pytest.raises(ValueError, match="source"):
        load_problems("gsm8k", data_dir=tmp_path, source="web")  # type: ignore[arg-type]


def test_malformed_rows(tmp_path: Path) -> None:
    path = tmp_path / "eval" / "gsm8k" / "test.jsonl"
    good = {"question": "1+1?", "answer": "#### 2"}
    write_jsonl(path, [good, "", {"question": "2+2?"}])
    with pytest.raises(DatasetFormatError) as info:
        load_problems("gsm8k", data_dir=tmp_path)
    err = info.value
    assert (err.path, err.line, err.field) == (path, 3, "answer")
    assert str(err).startswith(f"{path}, line 3: gsm8k: missing field 'answer'")
    assert isinstance(err, ValueError)
    # the rows before the bad one are fine, and a limit stops before it
    assert [p.gold for p in load_problems("gsm8k", data_dir=tmp_path, limit=1)] == ["2"]

    write_jsonl(path, [good, "{not json"])
    with pytest.raises(DatasetFormatError, match=r"line 2: not valid JSON"):
        load_problems("gsm8k", data_dir=tmp_path)

    write_jsonl(path, [{"question": "1+1?", "answer": "it is 2"}])
    with pytest.raises(DatasetFormatError, match="####"):
        load_problems("gsm8k", data_dir=tmp_path)

    math_path = tmp_path / "eval" / "math" / "test.jsonl"
    write_jsonl(math_path, [{"problem": "x?", "solution": "x is 3."}])
    with pytest.raises(DatasetFormatError, match=r"line 1: math: .*\\boxed") as info:
        load_problems("math", data_dir=tmp_path)
    assert info.value.field == "solution"

    svamp_path = tmp_path / "eval" / "svamp" / "test.jsonl"
    write_jsonl(svamp_path, [{"Body": "A b.", "Question": "  ", "Answer": 1.0}])
    with pytest.raises(DatasetFormatError, match="field 'Question' is empty"):
        load_problems("svamp", data_dir=tmp_path)

    mawps_path = tmp_path / "eval" / "addsub" / "test.jsonl"
    write_jsonl(mawps_path, [[1, 2]])
    with pytest.raises(DatasetFormatError, match="JSON object"):
        load_problems("addsub", data_dir=tmp_path)


def test_file_without_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "eval" / "singleop" / "test.jsonl"
    rows = [{"input": "3 + 4 ?", "target": 7.0}, {"input": "1 / 8 ?", "target": 0.125}]
    write_jsonl(path, rows, trailing_newline=False)
    problems = load_problems("singleop", data_dir=tmp_path)
    assert [(p.question, p.gold) for p in problems] == [("3 + 4 ?", "7"), ("1 / 8 ?", "0.125")]


# --------------------------------------------------------------------------- Hub


def fake_datasets(rows: list[dict[str, Any]] | Exception, calls: list[tuple[Any, ...]]):
    module = types.ModuleType("datasets")

    def load_dataset(path: str, name: str | None = None, *, split: str) -> Any:
        calls.append((path, name, split))
        if isinstance(rows, Exception):
            raise rows
        return iter(rows)

    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    return module


def test_hub_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    rows = [{"question": f"{i}+1?", "answer": f"so\n#### {i + 1}"} for i in range(5)]
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(rows, calls))
    problems = load_problems("gsm8k", data_dir=tmp_path, limit=2)  # auto: no local file
    assert calls == [("openai/gsm8k", "main", "test")]
    assert [(p.id, p.gold) for p in problems] == [("gsm8k/0", "1"), ("gsm8k/1", "2")]

    # source="hub" skips a local file
    write_jsonl(tmp_path / "eval" / "gsm8k" / "test.jsonl", [{"question": "x", "answer": "#### 9"}])
    assert load_problems("gsm8k", data_dir=tmp_path, source="hub")[4].gold == "5"
    assert load_problems("gsm8k", data_dir=tmp_path)[0].gold == "9"  # auto: the local file

    bad = [{"question": "x"}]
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(bad, calls))
    with pytest.raises(DatasetFormatError, match=r"hub:openai/gsm8k, row 0: .*'answer'"):
        load_problems("gsm8k", source="hub")


def test_hub_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline = ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")
    monkeypatch.setitem(sys.modules, "datasets", fake_datasets(offline, []))
    with pytest.raises(DatasetNotFoundError) as info:
        load_problems("gsm8k", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "eval" / "gsm8k" / "test.jsonl") in message
    assert "TORA_DATA_DIR" in message and "--data-dir" in message and "go online" in message
    assert "openai/gsm8k" in message and "Couldn't reach" in message


def test_hub_without_datasets_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import raises ImportError
    with pytest.raises(DatasetNotFoundError, match="pip install datasets"):
        load_problems("math", data_dir=tmp_path)


def test_no_hub_copy(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"no known Hub copy.*problems_test1k"):
        load_problems("tabmwp", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="no known Hub copy"):
        load_problems("multiarith", data_dir=tmp_path, source="hub")


# --------------------------------------------------------------------------- TabMWP

TABMWP_ROWS: list[dict[str, Any]] = [
    {
        "question": "Some friends discussed the sizes of their coin collections. What is the mean of the numbers?",
        "choices": None,
        "answer": "84",
        "unit": None,
        "table_title": "Coin collections",
        "table": "Name | Number of coins\nBraden | 76\nCamilla | 94\nRick | 86\nMary | 84\nHector | 80",
        "ans_type": "integer_number",
        "ques_type": "free_text",
        "grade": 5,
        "solution": "Read the numbers from the table. ... The mean is 84.",
    },
    {
        "question": "How much money does Ivan need to buy a hammer and a saw?",
        "choices": None,
        "answer": "1,214.50",
        "unit": "$",
        "table_title": "",
        "table": "hammer | $519.25\nsaw | $695.25\nwrench | $12.00",
        "ans_type": "decimal_number",
        "ques_type": "free_text",
        "grade": 4,
        "solution": "Add the price of a hammer and the price of a saw: $519.25 + $695.25 = $1,214.50.",
    },
    {
        "question": "What is the probability that a randomly selected bag is red? Simplify any fractions.",
        "choices": None,
        "answer": "3/8",
        "unit": None,
        "table_title": "Bags",
        "table": " | Red | Blue\nSmall | 2 | 4\nLarge | 1 | 1",
        "ans_type": "decimal_number",
        "ques_type": "free_text",
        "grade": 7,
        "solution": "3 of the 8 bags are red: 3/8.",
    },
    {
        "question": "Which day had the most visitors?",
        "choices": ["Monday", "Tuesday", "Wednesday"],
        "answer": "Tuesday",
        "unit": None,
        "table_title": "Museum visitors",
        "table": "Day | Visitors\nMonday | 120\nTuesday | 310\nWednesday | 205",
        "ans_type": "extractive_text",
        "ques_type": "multi_choice",
        "grade": 3,
        "solution": "310 is the greatest number, so Tuesday had the most visitors.",
    },
    {
        "question": "Does Tanvir have enough money to buy a kite and a yo-yo?",
        "choices": ["yes", "no"],
        "answer": "no",
        "unit": None,
        "table_title": None,
        "table": "kite | $8.45\nyo-yo | $3.10\nball | $1.25",
        "ans_type": "boolean_text",
        "ques_type": "multi_choice",
        "grade": 2,
        "solution": "$8.45 + $3.10 = $11.55; Tanvir has $10.00, so no.",
    },
    {
        "question": "Is the following statement about the frequency chart true or false? The mode is 3.",
        "choices": ["true", "false"],
        "answer": "true",
        "unit": None,
        "table_title": "Books read",
        "table": "Books | Frequency\n1 | 2\n2 | 4\n3 | 9",
        "ans_type": "other_text",
        "ques_type": "multi_choice",
        "grade": 6,
        "solution": "3 has the highest frequency.",
    },
    {
        "question": "What percent of the students chose soccer?",
        "choices": None,
        "answer": "25%",
        "unit": None,
        "table_title": "Favorite sport",
        "table": "Sport | Students\nSoccer | 5\nTennis | 15",
        "ans_type": "decimal_number",
        "ques_type": "free_text",
        "grade": 6,
        "solution": "5 of 20 students: 25%.",
    },
]


def test_tabmwp_questions_and_golds() -> None:
    spec = DATASETS["tabmwp"]
    problems = [spec.parse_row(row, i) for i, row in enumerate(TABMWP_ROWS)]
    first = problems[0]
    assert first.question == (
        'Read the following table regarding "Coin collections" and answer a question:\n'
        "Name | Number of coins\nBraden | 76\nCamilla | 94\nRick | 86\nMary | 84\nHector | 80\n"
        "Some friends discussed the sizes of their coin collections. What is the mean of the numbers?"
    )
    assert first.meta["ans_type"] == "integer_number" and first.meta["choices"] is None
    assert first.meta["table_title"] == "Coin collections" and first.meta["grade"] == 5
    # no title (empty string or null): no 'regarding' part
    assert problems[1].question.startswith(
        "Read the following table and answer a question:\nhammer | $519.25\n"
    )
    assert problems[4].question.startswith("Read the following table and answer a question:\n")
    # choices are listed after the question
    assert problems[3].question.endswith(
        "Which day had the most visitors? Please select from the following options: "
        "['Monday', 'Tuesday', 'Wednesday']"
    )
    assert problems[4].meta["choices"] == ["yes", "no"]
    assert [p.gold for p in problems] == ["84", "1214.5", "0.375", "Tuesday", "no", "true", "25"]
    assert problems[1].meta["unit"] == "$" and problems[1].meta["raw_answer"] == "1,214.50"
    assert problems[6].meta["percent"] is True
    assert math_equal("1214.50", problems[1].gold) and math_equal("\\frac{3}{8}", problems[2].gold)
    assert math_equal("25\\%", problems[6].gold)


def test_tabmwp_gold_rules() -> None:
    assert tabmwp_gold("1/3", "decimal_number") == "0.3333333333333333"
    assert tabmwp_gold("-2/4", "integer_number") == "-0.5"
    assert tabmwp_gold("$5", "integer_number") == "5"
    assert tabmwp_gold("1/0", "decimal_number") == "1/0"  # unusable: kept as text
    assert tabmwp_gold("1/2", "other_text") == "1/2"  # text answers as they are
    assert tabmwp_gold(" yes ", "boolean_text") == "yes"


def test_tabmwp_local_files(tmp_path: Path) -> None:
    # JSON lines ...
    write_jsonl(tmp_path / "eval" / "tabmwp" / "test.jsonl", TABMWP_ROWS)
    problems = load_problems("tabmwp", data_dir=tmp_path, limit=3)
    assert [p.id for p in problems] == ["tabmwp/0", "tabmwp/1", "tabmwp/2"]
    # ... or the TabMWP release's JSON object keyed by id
    other = tmp_path / "other"
    json_path = other / "eval" / "tabmwp" / "test.json"
    json_path.parent.mkdir(parents=True)
    keyed = {str(1000 + i): row for i, row in enumerate(TABMWP_ROWS)}
    json_path.write_text(json.dumps(keyed), encoding="utf-8")
    problems = load_problems("tabmwp", data_dir=other, source="local")
    assert len(problems) == len(TABMWP_ROWS)
    assert problems[3].gold == "Tuesday" and problems[3].meta["source_id"] == "1003"
    keyed["1002"] = {k: v for k, v in TABMWP_ROWS[2].items() if k != "ans_type"}
    json_path.write_text(json.dumps(keyed), encoding="utf-8")
    with pytest.raises(
        DatasetFormatError, match=r"test.json, row 1002: tabmwp: missing field 'ans_type'"
    ):
        load_problems("tabmwp", data_dir=other)


def test_doctests() -> None:
    result = doctest.testmod(benchmarks, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0
