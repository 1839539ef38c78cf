"""The ToRA trajectory format, shared by inference and training.

A trajectory is the assistant's text: rounds of model-written reasoning ending in a
```` ```python ```` block, each followed by the interpreter's answer in an
```` ```output ```` block, until the model writes ``\\boxed{answer}``::

    <|user|>
    What is 2 + 3?
    <|assistant|>
    ```python
    print(2 + 3)
    ```
    ```output
    5
    ```
    The answer is $\\boxed{5}$.

Everything that decides what this text looks like lives here, so that the training
corpus (``train/``) and the loop (:mod:`langchain_tora.chain`) cannot drift apart:
the prompt of the released checkpoints, the output block, the round rules of the
released inference code and the split of a finished trajectory into model text and
interpreter output (which training masks).

Example:
    >>> round_text = cut_round("```python\\nprint(1)\\n```\\n```output\\n7\\n```")
    >>> round_text
    '```python\\nprint(1)\\n```'
    >>> should_execute(round_text), last_python_block(round_text)
    (True, 'print(1)\\n')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

USER_TAG = "<|user|>"
ASSISTANT_TAG = "<|assistant|>"
OUTPUT_FENCE = "```output"
PYTHON_FENCE = "```python"
MAX_CALLS_NOTE = "\nReach max function call limit."
"""Appended after the last allowed execution, as the released inference code did."""


def tora_prompt(question: str) -> str:
    """The prompt of the released ToRA checkpoints, up to the assistant's first token.

    Example:
        >>> tora_prompt("What is 2 + 3?")
        '<|user|>\\nWhat is 2 + 3?\\n<|assistant|>\\n'
    """
    return f"{USER_TAG}\n{question}\n{ASSISTANT_TAG}\n"


def split_tora_prompt(prompt: str) -> tuple[str, str]:
    """The question and the trajectory so far of a :func:`tora_prompt` continuation.

    Raises ``ValueError`` for text that is not a ToRA prompt.

    Example:
        >>> split_tora_prompt(tora_prompt("1+1?") + "```python\\nprint(2)\\n```")
        ('1+1?', '```python\\nprint(2)\\n```')
    """
    head, sep = f"{USER_TAG}\n", f"\n{ASSISTANT_TAG}\n"
    if not prompt.startswith(head) or sep not in prompt:
        raise ValueError(
            "not a ToRA prompt: expected '<|user|>\\n{question}\\n<|assistant|>\\n...'"
        )
    question, _, so_far = prompt[len(head) :].partition(sep)
    return question, so_far


def output_block(result: str) -> str:
    """The interpreter's answer as it is appended to the trajectory.

    Example:
        >>> output_block("5")
        '\\n```output\\n5\\n```\\n'
    """
    return f"\n{OUTPUT_FENCE}\n{result}\n```\n"


_FIRST_CLOSED_PYTHON = re.compile(r"^```python[^\n]*\n.*?^```", re.S | re.M)


def cut_round(text: str, stop: Iterable[str] = (OUTPUT_FENCE,)) -> str:
    """Cut one model generation to one round, without trusting the model's ``stop``.

    The text is cut at the earliest stop string, then right after the closing fence
    of its first closed python block, then right-stripped (as the released code did).

    Example:
        >>> cut_round("Let me compute.\\n```python\\nprint(6*7)\\n```\\nThe answer is 42")
        'Let me compute.\\n```python\\nprint(6*7)\\n```'
        >>> cut_round("So $\\\\boxed{42}$.</s>junk", stop=["</s>"])
        'So $\\\\boxed{42}$.'
    """
    end = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < end:
                end = i
    text = text[:end]
    match = _FIRST_CLOSED_PYTHON.search(text)
    if match is not None:
        text = text[: match.end()]
    return text.rstrip()


def should_execute(round_text: str) -> bool:
    """The released rule: run code only when the round has no ``boxed`` and ends with a fence.

    Example:
        >>> should_execute("```python\\nprint(1)\\n```")
        True
        >>> should_execute("$\\\\boxed{1}$\\n```python\\nprint(1)\\n```")
        False
    """
    return "boxed" not in round_text and round_text.endswith("```")


def python_blocks(text: str) -> list[str]:
    """All python blocks of a text, in order (a block still open at the end counts).

    Line-based like the released ``extract_program``: a block starts at a line that
    begins with ```` ```python ```` and ends at the next line that begins with
    ```` ``` ````.

    Example:
        >>> python_blocks("```python\\na = 1\\n```\\ntext\\n```python\\nprint(a)\\n```")
        ['a = 1\\n', 'print(a)\\n']
    """
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        if line.startswith(PYTHON_FENCE):
            if current is not None:
                blocks.append("".join(current))
            current = []
        elif line.startswith("```"):
            if current is not None:
                blocks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line + "\n")
    if current is not None:
        blocks.append("".join(current))
    return blocks


def last_python_block(text: str) -> str:
    """The program that runs for a round: its last python block (``""`` when none).

    Example:
        >>> last_python_block("no code here")
        ''
    """
    blocks = python_blocks(text)
    return blocks[-1] if blocks else ""


SegmentKind = Literal["model", "output"]


@dataclass(frozen=True, slots=True)
class Segment:
    """A span of a trajectory: text the model wrote, or an interpreter output block.

    ``start``/``end`` index into the trajectory string.  An ``output`` segment covers
    the whole block including its fences; ``body_start``/``body_end`` cover only what
    the interpreter printed (what a training loss can mask).
    """

    kind: SegmentKind
    start: int
    end: int
    body_start: int = -1
    body_end: int = -1


_OUTPUT_BLOCK = re.compile(r"```output\n(.*?)\n```(?:\n|$)", re.S)


def segments(trajectory: str) -> list[Segment]:
    """Split a finished trajectory into model text and output blocks.

    An output block is ```` ```output\\n...\\n``` ```` with its trailing newline; the
    newline before the opening fence belongs to the model's text (it is what the
    released code inserted, but the model would produce it too).

    Example:
        >>> t = "```python\\nprint(5)\\n```\\n```output\\n5\\n```\\nSo $\\\\boxed{5}$."
        >>> [(s.kind, t[s.start:s.end]) for s in segments(t)]  # doctest: +NORMALIZE_WHITESPACE
        [('model', '```python\\nprint(5)\\n```\\n'), ('output', '```output\\n5\\n```\\n'),
         ('model', 'So $\\\\boxed{5}$.')]
    """
    out: list[Segment] = []
    pos = 0
    for m in _OUTPUT_BLOCK.finditer(trajectory):
        if m.start() > pos:
            out.append(Segment("model", pos, m.start()))
        out.append(Segment("output", m.start(), m.end(), m.start(1), m.end(1)))
        pos = m.end()
    if pos < len(trajectory):
        out.append(Segment("model", pos, len(trajectory)))
    return out


def model_rounds(trajectory: str) -> list[str]:
    """The texts the model generated, round by round, as the released code saw them.

    Each round's text is what came before an output block (without the newline the
    loop inserted before the fence) and the text after the last block.  Feeding these
    to :class:`~langchain_tora.chain.ToRAChain` through a scripted model replays the
    trajectory.

    Example:
        >>> model_rounds("```python\\nprint(5)\\n```\\n```output\\n5\\n```\\nSo $\\\\boxed{5}$.")
        ['```python\\nprint(5)\\n```', 'So $\\\\boxed{5}$.']
    """
    rounds: list[str] = []
    for seg in segments(trajectory):
        if seg.kind == "model":
            text = trajectory[seg.start : seg.end]
            rounds.append(text[:-1] if text.endswith("\n") else text)
    if trajectory.endswith(MAX_CALLS_NOTE.strip()) and rounds:
        rounds[-1] = rounds[-1].removesuffix(MAX_CALLS_NOTE.strip()).rstrip("\n")
        if not rounds[-1]:
            rounds.pop()
    return rounds
