"""Answer extraction: the final answer of a ToRA trajectory.

A ToRA trajectory interleaves rationale, ```` ```python ```` blocks and
```` ```output ```` blocks, and states its answer as ``\\boxed{...}``.
:func:`extract_answer` finds that answer, falling back on weaker signals in a fixed
order (see its docstring).  It returns the answer as written, lightly cleaned; the
comparison-oriented normalisation (:func:`normalize_answer`, re-exported here) is
the grader's business.

Unlike the released ToRA parser, which split the whole text on the word ``boxed``,
code and output blocks are skipped when looking for ``\\boxed``/``\\fbox`` and for
"the answer is": a docstring that mentions a "lego boxed set" or a program that
prints ``\\boxed{`` is not the model's answer.

Example:
    >>> extract_answer("```python\\nprint(1 + 1)\\n```\\n```output\\n2\\n```\\nSo $\\\\boxed{2}$.")
    '2'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_tora.grading.normalize import normalize_answer

__all__ = ["extract_answer", "normalize_answer", "split_fenced"]

_FENCE = "```"
_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_TOKEN = re.compile(r"[^\s$]+")
_ANSWER_IS = re.compile(r"\bthe answer is\b", re.IGNORECASE)
# A number: digits with optional thousands separators and decimals, or ``.5``.  A
# minus sign counts only where it cannot be a binary minus (``5-3`` ends in ``3``).
_NUMBER = re.compile(
    r"(?:(?<![\w)\]])-)?(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a trajectory: prose, or the body of one fenced block.

    Attributes:
        kind: ``"text"`` for prose, else the fence's language tag (``"python"``,
            ``"output"``, or ``""`` for a bare fence).
        body: the text of the piece (for a block: between the fence lines).
        closed: False for a block that the trajectory never closed (it was cut).
    """

    kind: str
    body: str
    closed: bool = True


def split_fenced(text: str) -> list[Segment]:
    """Split a trajectory into prose and fenced blocks.

    Every ```` ``` ```` toggles between prose and a block; an opening fence carries
    its language tag up to the end of its line.  A block left open runs to the end.

    Example:
        >>> [s.kind for s in split_fenced("a\\n```python\\nx=1\\n```\\n```output\\n1\\n```\\nb")]
        ['text', 'python', 'text', 'output', 'text']
        >>> split_fenced("```output\\n42\\n```")[1].body
        '42\\n'
    """
    segments: list[Segment] = []
    pos = 0
    while True:
        start = text.find(_FENCE, pos)
        if start < 0:
            segments.append(Segment("text", text[pos:]))
            return segments
        segments.append(Segment("text", text[pos:start]))
        line_end = text.find("\n", start)
        header_end = len(text) if line_end < 0 else line_end
        kind = text[start + len(_FENCE) : header_end].strip()
        if " " in kind or "`" in kind:
            # Not a fence header (``` followed by prose on the same line): the block
            # starts right after the backticks.
            kind, header_end = "", start + len(_FENCE) - 1
        body_start = header_end + 1
        end = text.find(_FENCE, body_start)
        if end < 0:
            segments.append(Segment(kind, text[body_start:], closed=False))
            return segments
        segments.append(Segment(kind, text[body_start:end]))
        pos = end + len(_FENCE)


def _light_clean(answer: str) -> str:
    """Strip whitespace, surrounding ``$`` and a trailing period."""
    answer = answer.strip()
    while True:
        cleaned = answer.strip().strip("$").strip()
        if cleaned.endswith(".") and not cleaned.endswith(".."):
            cleaned = cleaned[:-1].rstrip()
        if cleaned == answer:
            return cleaned
        answer = cleaned


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of the matching ``}`` for every balanced ``{`` (one pass)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, char in enumerate(text):
        if char == "{":
            stack.append(i)
        elif char == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def _boxed_contents(prose: str) -> str | None:
    """The content of the last well-formed ``\\boxed``/``\\fbox`` in prose, if any."""
    pairs: dict[int, int] | None = None
    for match in reversed(list(_BOXED.finditer(prose))):
        start = match.end()
        while start < len(prose) and prose[start].isspace():
            start += 1
        first = prose[start : start + 1]
        if first == "{":
            if pairs is None:
                pairs = _brace_pairs(prose)
            end = pairs.get(start)
            if end is not None:
                content = _light_clean(prose[start + 1 : end])
                if content:
                    return content
            continue  # unbalanced or empty: as if absent
        if first not in ("", "}", "]", ")", "$"):
            # ``\boxed 5`` (or ``\boxed5``): one token, up to ``$`` or whitespace.
            token = _TOKEN.match(prose, start)
            if token is not None:
                content = _light_clean(token.group(0))
                if content:
                    return content
    return None


def _answer_is(prose: str) -> str | None:
    """What follows the last "the answer is", up to the end of its line or sentence."""
    matches = list(_ANSWER_IS.finditer(prose))
    if not matches:
        return None
    rest = prose[matches[-1].end() :].split("\n", 1)[0]
    sentence_end = re.search(r"\.(?:\s|$)", rest)
    if sentence_end is not None:
        rest = rest[: sentence_end.start()]
    answer = _light_clean(rest.strip().lstrip(":").strip())
    return answer or None


def _last_number(text: str) -> str | None:
    """The last number in the text, thousands separators removed."""
    found = None
    for match in _NUMBER.finditer(text):
        found = match
    if found is None:
        return None
    return found.group(0).replace(",", "")


def extract_answer(text: str) -> str | None:
    """The final answer of a ToRA trajectory, or None when there is none.

    Rules, in order of preference (the first that yields a non-empty answer wins):

    (a) the last ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed 5``) outside code
        and output blocks; nested braces are matched; an unbalanced or empty box
        counts as absent;

    >>> extract_answer(r"So $\\boxed{\\frac{1}{2}}$ and not \\boxed{3")
    '\\\\frac{1}{2}'
    >>> extract_answer("```python\\nprint('\\\\boxed{7}')\\n```\\nThus $\\\\boxed 5$")
    '5'
    >>> extract_answer(r"\\fbox{x+1}")
    'x+1'

    (b) what follows the last "the answer is" in prose, to the end of the line or
        sentence;

    >>> extract_answer("We add them. The answer is 12.5 apples. Done")
    '12.5 apples'

    (c) the content of the last ```` ```output ```` block (a ``\\boxed{...}`` in it, as
        the PAL format writes it, is unwrapped);

    >>> extract_answer("```python\\nprint(6*7)\\n```\\n```output\\n42\\n```\\n")
    '42'
    >>> extract_answer("```python\\ndef solution(): return 8\\n```\\n```output\\n\\\\boxed{8}\\n```\\n")
    '8'

    (d) the last number in the text, thousands separators removed;

    >>> extract_answer("It costs 1,234 dollars, i.e. -0.5 per unit")
    '-0.5'

    (e) None.

    >>> extract_answer("no idea") is None
    True

    The result is stripped of whitespace, surrounding ``$`` and a trailing period,
    and is otherwise as written (``\\dfrac``, units and all).
    """
    if not text:
        return None
    segments = split_fenced(text)
    prose = "\n".join(s.body for s in segments if s.kind == "text")
    for rule in (_boxed_contents, _answer_is):
        answer = rule(prose)
        if answer:
            return answer
    outputs = [s for s in segments if s.kind == "output"]
    if outputs:
        body = outputs[-1].body
        answer = _boxed_contents(body) or _light_clean(body)
        if answer:
            return answer
    return _last_number(text)
