"""Prompt formats: how a question becomes model input, and what a round means.

A :class:`PromptFormat` decides four things for :class:`~langchain_tora.ToRAChain`:

1. the model input, as text for a completion model (``completion_prompt`` followed
   by the trajectory so far) or as messages for a chat model (``chat_messages``);
2. where a generation ends (``stop``; the chain also cuts the text itself);
3. whether a round's code runs and which program that is (``program``);
4. how the interpreter's answer is written back (``observation``).

Four formats ship, registered by name (:func:`get_prompt_format`):

* ``tora``: the released ToRA checkpoints' format, ``<|user|>\\n{question}\\n<|assistant|>\\n``
  with the round rules of the released inference code;
* ``chat``: tool-integrated reasoning for general chat models, with a system prompt
  and few-shot examples (GSM8K-style and MATH-style);
* ``pal``: program-aided baseline: one program defining ``solution()``, whose value
  is the answer;
* ``cot``: chain-of-thought baseline: reasoning in words, no code.

Example:
    >>> fmt = get_prompt_format("tora")
    >>> fmt.completion_prompt("What is 2 + 3?")
    '<|user|>\\nWhat is 2 + 3?\\n<|assistant|>\\n'
    >>> fmt.observation("5")
    '\\n```output\\n5\\n```\\n'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from langchain_tora.prompts import fewshot
from langchain_tora.trajectory import (
    OUTPUT_FENCE,
    PYTHON_FENCE,
    last_python_block,
    output_block,
    segments,
    should_execute,
    tora_prompt,
)

Round = tuple[str, str | None]
"""A finished round: the model's text and the observation appended after it (or None)."""

ExampleSet = Literal["gsm8k", "math", "both"]


class PromptFormat:
    """Base class of the prompt formats (subclass it to add your own).

    Attributes:
        name: the registry name (``tora``, ``chat``, ``pal``, ``cot``).
        stop: stop strings asked of the model (the chain also cuts on them itself).
        max_tool_calls: a cap this format imposes on executions (``None``: the chain's).
        executes: whether rounds of this format ever run code.
    """

    name: ClassVar[str] = ""
    stop: tuple[str, ...] = (OUTPUT_FENCE,)
    max_tool_calls: int | None = None
    executes: bool = True
    ends_after_execution: bool = False
    """True when the observation itself carries the answer (PAL): stop after it."""

    def completion_prompt(self, question: str) -> str:
        """The text a completion model continues (the trajectory is appended to it)."""
        raise NotImplementedError

    def chat_messages(self, question: str, rounds: Sequence[Round] = ()) -> list[BaseMessage]:
        """The conversation a chat model continues, with the rounds done so far."""
        messages: list[BaseMessage] = [*self._chat_preamble(), HumanMessage(question)]
        return messages + _rounds_as_messages(rounds)

    def _chat_preamble(self) -> list[BaseMessage]:
        return []

    def program(self, round_text: str) -> str | None:
        """The program to run after this round, or ``None`` when the round ends the solution."""
        if not self.executes or not should_execute(round_text):
            return None
        return last_python_block(round_text)

    def observation(self, rendered: str) -> str:
        """What is appended to the trajectory after an execution."""
        return output_block(rendered)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _rounds_as_messages(rounds: Sequence[Round]) -> list[BaseMessage]:
    """Rounds as alternating assistant text and user-side output messages."""
    messages: list[BaseMessage] = []
    for text, observation in rounds:
        messages.append(AIMessage(text))
        if observation is not None:
            messages.append(HumanMessage(observation.strip("\n")))
    return messages


def _trajectory_as_rounds(trajectory: str) -> list[Round]:
    """Split a few-shot trajectory into the rounds a chat model would have produced."""
    rounds: list[Round] = []
    text = ""
    for seg in segments(trajectory):
        piece = trajectory[seg.start : seg.end]
        if seg.kind == "model":
            text = piece.rstrip("\n")
        else:
            rounds.append((text, "\n" + piece))
            text = ""
    if text:
        rounds.append((text, None))
    return rounds


def _examples(
    examples: ExampleSet, gsm8k: Sequence[fewshot.Example], math: Sequence[fewshot.Example]
) -> list[fewshot.Example]:
    if examples == "gsm8k":
        return list(gsm8k)
    if examples == "math":
        return list(math)
    if examples == "both":
        return [*gsm8k, *math]
    raise ValueError(f"unknown example set {examples!r}; use 'gsm8k', 'math' or 'both'")


class ToRAFormat(PromptFormat):
    """The released checkpoints' format: ``<|user|>\\n{question}\\n<|assistant|>\\n``.

    Round rules of the released inference code: a round's text is right-stripped;
    its code runs only when it has no ``boxed`` and ends with a closing fence; the
    round's last python block is the program.  With a chat model the question is the
    user message (for ToRA checkpoints served behind a chat template).

    Example:
        >>> ToRAFormat().program("```python\\nprint(1)\\n```")
        'print(1)\\n'
        >>> ToRAFormat().program("So the answer is $\\\\boxed{1}$.") is None
        True
    """

    name = "tora"
    stop = (OUTPUT_FENCE, "</s>")

    def completion_prompt(self, question: str) -> str:
        return tora_prompt(question)


class FewShotFormat(PromptFormat):
    """Shared machinery of the few-shot formats: a system text and solved examples.

    As a completion prompt the examples are written as ``Question: ...`` /
    ``Solution: ...`` pairs separated by ``---``; as chat messages each example is a
    user turn followed by the assistant's rounds (and output messages).
    """

    system: str = ""
    stop = (OUTPUT_FENCE, "\n---", "\nQuestion:")

    def __init__(self, examples: ExampleSet = "both") -> None:
        self.examples = examples
        self._shots = self._select(examples)

    def _select(self, examples: ExampleSet) -> list[fewshot.Example]:
        raise NotImplementedError

    def completion_prompt(self, question: str) -> str:
        shots = "".join(
            f"Question: {ex.question}\nSolution:\n{ex.solution}\n\n---\n\n" for ex in self._shots
        )
        return f"{self.system}\n\n---\n\n{shots}Question: {question}\nSolution:\n"

    def _chat_preamble(self) -> list[BaseMessage]:
        messages: list[BaseMessage] = [SystemMessage(self.system)]
        for ex in self._shots:
            messages.append(HumanMessage(ex.question))
            messages.extend(_rounds_as_messages(_trajectory_as_rounds(ex.solution)))
        return messages

    def __repr__(self) -> str:
        return f"{type(self).__name__}(examples={self.examples!r})"


class ToRAChatFormat(FewShotFormat):
    """Tool-integrated reasoning for general chat models (GPT-4o, local instruct models).

    The system prompt explains the protocol; few-shot examples (``examples``:
    ``"gsm8k"``, ``"math"`` or ``"both"``) show rounds of rationale and code, the
    outputs arriving as user messages, and a boxed answer.

    Example:
        >>> msgs = ToRAChatFormat(examples="gsm8k").chat_messages("What is 2 + 3?")
        >>> msgs[0].type, msgs[-1].content
        ('system', 'What is 2 + 3?')
    """

    name = "chat"
    system = fewshot.TORA_SYSTEM

    def _select(self, examples: ExampleSet) -> list[fewshot.Example]:
        return _examples(examples, fewshot.TORA_GSM8K, fewshot.TORA_MATH)


class PALFormat(FewShotFormat):
    """Program-aided language model baseline (Gao et al., 2023).

    The model writes one program defining ``solution()``; the chain runs it with
    ``print(solution())`` appended and writes the value back as ``\\boxed{value}``,
    which is the answer.  One execution, then the solution ends.

    Example:
        >>> PALFormat().program("```python\\ndef solution():\\n    return 4\\n```")
        'def solution():\\n    return 4\\n\\nprint(solution())\\n'
        >>> PALFormat().observation("4")
        '\\n```output\\n\\\\boxed{4}\\n```\\n'
    """

    name = "pal"
    system = fewshot.PAL_SYSTEM
    max_tool_calls = 1
    ends_after_execution = True

    def _select(self, examples: ExampleSet) -> list[fewshot.Example]:
        return _examples(examples, fewshot.PAL_GSM8K, fewshot.PAL_MATH)

    def program(self, round_text: str) -> str | None:
        if PYTHON_FENCE not in round_text:
            return None
        code = last_python_block(round_text)
        if "def solution(" in code and "solution()" not in code.split("def solution(", 1)[1]:
            code += "\nprint(solution())\n"
        return code

    def observation(self, rendered: str) -> str:
        return output_block("\\boxed{" + rendered + "}")


class CoTFormat(FewShotFormat):
    """Chain-of-thought baseline (Wei et al., 2022): reasoning in words, no code runs.

    Example:
        >>> CoTFormat().program("```python\\nprint(1)\\n```") is None
        True
    """

    name = "cot"
    system = fewshot.COT_SYSTEM
    stop = ("\n---", "\nQuestion:")
    executes = False
    max_tool_calls = 0

    def _select(self, examples: ExampleSet) -> list[fewshot.Example]:
        return _examples(examples, fewshot.COT_GSM8K, fewshot.COT_MATH)


PROMPT_FORMATS: dict[str, type[PromptFormat]] = {
    "tora": ToRAFormat,
    "chat": ToRAChatFormat,
    "pal": PALFormat,
    "cot": CoTFormat,
}
"""The registered formats by name; ``name:examples`` selects an example set (``chat:math``)."""


def get_prompt_format(name: str | PromptFormat) -> PromptFormat:
    """A prompt format by name (``tora``, ``chat``, ``pal``, ``cot``), or the instance given.

    A few-shot format takes its example set after a colon: ``chat:gsm8k``, ``pal:math``.

    Example:
        >>> get_prompt_format("pal:math")
        PALFormat(examples='math')
    """
    if isinstance(name, PromptFormat):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"prompt must be a format name or a PromptFormat, not {type(name).__name__}"
        )
    base, _, examples = name.partition(":")
    cls = PROMPT_FORMATS.get(base)
    if cls is None:
        known = ", ".join(sorted(PROMPT_FORMATS))
        raise ValueError(
            f"unknown prompt format {name!r}: use one of {known} (or pass a PromptFormat)"
        )
    if issubclass(cls, FewShotFormat):
        return cls(examples or "both")  # type: ignore[arg-type]
    if examples:
        raise ValueError(f"prompt format {base!r} has no example sets; use {base!r}")
    return cls()
