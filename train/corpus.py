"""ToRA training corpus: records, serialization and tokenization with loss masks.

A record is what the released ToRA corpus holds (``messages`` = the user's question
and the assistant's trajectory).  It is serialized exactly as the loop prompts the
model (:func:`langchain_tora.trajectory.tora_prompt`) followed by the trajectory and
EOS, so training and inference cannot drift::

    <|user|>\\n{question}\\n<|assistant|>\\n{trajectory}</s>

Labels are ``-100`` on the prompt.  With ``mask_outputs=True`` (the default, the
paper's objective) the text the loop inserted after each ``` ```output ``` fence (the
interpreter's output and the closing fence) is masked too; ``False`` trains on it, as
the released training code did.

Example:
    >>> from train.corpus import ToRARecord
    >>> rec = ToRARecord(question="1+1?", trajectory="$\\\\boxed{2}$")
    >>> rec.text()
    '<|user|>\\n1+1?\\n<|assistant|>\\n$\\\\boxed{2}$'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_tora.trajectory import segments, tora_prompt

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True, slots=True)
class ToRARecord:
    """One training example: a question and the assistant's trajectory."""

    question: str
    trajectory: str

    def prompt(self) -> str:
        return tora_prompt(self.question)

    def text(self) -> str:
        """The serialized example without EOS (the tokenizer adds EOS as a token)."""
        return self.prompt() + self.trajectory

    def supervised_spans(self, mask_outputs: bool = True) -> list[tuple[int, int]]:
        """Character spans of :meth:`text` that carry loss (the assistant's own text).

        Example:
            >>> r = ToRARecord("q", "```python\\nprint(1)\\n```\\n```output\\n1\\n```\\nSo 1.")
            >>> [r.text()[a:b] for a, b in r.supervised_spans()]
            ['```python\\nprint(1)\\n```\\n```output', 'So 1.']
        """
        offset = len(self.prompt())
        if not mask_outputs:
            return [(offset, offset + len(self.trajectory))]
        spans: list[tuple[int, int]] = []
        for seg in segments(self.trajectory):
            if seg.kind == "model":
                spans.append((offset + seg.start, offset + seg.end))
            else:
                # The model writes the opening fence (its stop string); the loop
                # writes everything after it: "\n{result}\n```\n".
                fence_end = seg.body_start - 1
                spans.append((offset + seg.start, offset + fence_end))
        return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        elif b > a:
            merged.append((a, b))
    return merged


def record_from_dict(row: dict[str, Any], where: str = "") -> ToRARecord:
    """A record from a ToRA corpus row (``messages``) or a ``question``/``trajectory`` row."""
    if "messages" in row:
        messages = row["messages"]
        users = [m["content"] for m in messages if m.get("role") == "user"]
        assistants = [m["content"] for m in messages if m.get("role") == "assistant"]
        if len(users) != 1 or len(assistants) != 1:
            raise ValueError(
                f"{where}: a ToRA record has one user and one assistant message, got roles "
                f"{[m.get('role') for m in messages]}"
            )
        return ToRARecord(users[0], assistants[0])
    if "question" in row and "trajectory" in row:
        return ToRARecord(row["question"], row["trajectory"])
    raise ValueError(
        f"{where}: expected 'messages' (ToRA format) or 'question' + 'trajectory' keys, got {sorted(row)}"
    )


def load_records(source: str | Path, split: str = "train") -> list[ToRARecord]:
    """Records from a local jsonl file (or a directory of them) or a Hub dataset id.

    Example:
        >>> load_records("../shared/data/train/tora/examples.jsonl")  # doctest: +SKIP
    """
    path = Path(source)
    if path.exists():
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"{path} holds no .jsonl files")
        records = []
        for file in files:
            with open(file, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        records.append(record_from_dict(json.loads(line), f"{file}:{number}"))
        return records
    if str(source).endswith(".jsonl") or str(source).startswith((".", "/")):
        raise FileNotFoundError(f"{source} does not exist (give a jsonl file or a Hub dataset id)")
    try:
        from datasets import load_dataset
    except ImportError as error:  # pragma: no cover - the train extra has it
        raise ImportError(
            "loading a Hub dataset needs `pip install 'langchain-tora[train]'`"
        ) from error
    dataset = load_dataset(str(source), split=split)
    return [record_from_dict(dict(row), f"{source}[{i}]") for i, row in enumerate(dataset)]


@dataclass
class TokenizeStats:
    """What tokenization did to a corpus."""

    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_supervision: int = 0
    tokens: int = 0
    supervised_tokens: int = 0
    examples_dropped: list[int] = field(default_factory=list)


def tokenize_record(
    record: ToRARecord,
    tokenizer: Any,
    *,
    max_length: int = 2048,
    mask_outputs: bool = True,
) -> dict[str, list[int]] | None:
    """``input_ids``, ``attention_mask`` and ``labels`` for one record, or None.

    The text is tokenized once with character offsets; a token carries loss when it
    starts inside a supervised span.  EOS is appended (supervised).  Rows longer than
    ``max_length`` are cut at the end; a row left with no supervised token is None.
    """
    text = record.text()
    # The tokenizer adds its special tokens (BOS for Llama) as it does at inference.
    encoding = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids: list[int] = list(encoding["input_ids"])
    offsets: list[tuple[int, int]] = list(encoding["offset_mapping"])
    spans = record.supervised_spans(mask_outputs)
    labels = [
        tid if _inside(start, end, spans) else IGNORE_INDEX
        for tid, (start, end) in zip(ids, offsets, strict=True)
    ]
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(
            "the tokenizer has no EOS token; set tokenizer.eos_token before tokenizing"
        )
    if ids and ids[-1] == eos:
        labels[-1] = eos
    else:
        ids.append(eos)
        labels.append(eos)
    if len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    # Some tokenizers give a leading-space token an offset that starts on the space.
    if end <= start:
        return False
    return any(a <= start < b for a, b in spans)


def tokenize_corpus(
    records: Iterable[ToRARecord],
    tokenizer: Any,
    *,
    max_length: int = 2048,
    mask_outputs: bool = True,
) -> tuple[list[dict[str, list[int]]], TokenizeStats]:
    """Tokenize records; rows without any supervised token are dropped and counted."""
    rows: list[dict[str, list[int]]] = []
    stats = TokenizeStats()
    for i, record in enumerate(records):
        stats.rows += 1
        full_length = len(tokenizer(record.text())["input_ids"]) + 1
        row = tokenize_record(record, tokenizer, max_length=max_length, mask_outputs=mask_outputs)
        if row is None:
            stats.dropped_no_supervision += 1
            stats.examples_dropped.append(i)
            continue
        stats.truncated += full_length > max_length
        stats.kept += 1
        stats.tokens += len(row["input_ids"])
        stats.supervised_tokens += sum(label != IGNORE_INDEX for label in row["labels"])
        rows.append(row)
    if stats.dropped_no_supervision:
        logger.warning(
            "%d of %d rows had no supervised token left after truncation to %d tokens and were dropped",
            stats.dropped_no_supervision,
            stats.rows,
            max_length,
        )
    return rows, stats


def supervised_text(row: dict[str, list[int]], tokenizer: Any) -> list[str]:
    """Decode the supervised spans of a tokenized row (to check what the loss sees)."""
    pieces: list[str] = []
    current: list[int] = []
    for tid, label in zip(row["input_ids"], row["labels"], strict=True):
        if label != IGNORE_INDEX:
            current.append(tid)
        elif current:
            pieces.append(tokenizer.decode(current))
            current = []
    if current:
        pieces.append(tokenizer.decode(current))
    return pieces


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a jsonl file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
