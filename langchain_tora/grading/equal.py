"""Answer equivalence: is a predicted answer mathematically equal to the gold one?

:func:`math_equal` reads both answers (:class:`Answer`: normalised text, and whether a
percent or degree sign was written), then tries cheap rules that run in this
process and, only when they cannot decide, a symbolic comparison with sympy in a
helper process under a hard time limit (see :mod:`langchain_tora.grading._worker`):

1. the normalised strings are equal (:func:`~langchain_tora.grading.normalize_answer`:
   units, ``\\$``, ``\\left``, ``\\dfrac``, repeating decimals ... are taken care of);
2. :data:`RULES`, in order, each of which decides or passes: multiple-choice
   letters, equations and assignments, ``\\pm``, numbers, degrees against radians,
   matrices, unions of intervals, tuples/intervals/sets/lists, text;
3. symbolic: LaTeX through ``latex2sympy2_extended``, plain text through sympy's
   ``parse_expr``; equal when ``simplify(a - b) == 0``, ``a.equals(b)``, or their
   numeric values are close (see :func:`~langchain_tora.grading._symbolic.sympy_equal`).

The default is mathematically strict.  ``tora_compatible=True`` adds the leniency of
the released ToRA grader (``include_percentage``): a numeric prediction also matches
``gold / 100`` and ``gold * 100``.  That is the mode that reproduces the released
metrics.  In both modes a comma inside a number is a thousands separator only
(``1,000``); the released grader deleted every comma, which read the list
``3, 1, 2`` as the number 312.

Example:
    >>> math_equal(r"\\frac{1}{2}", "0.5")
    True
    >>> math_equal("0.5", "50"), math_equal("0.5", "50", tora_compatible=True)
    (False, True)
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from langchain_tora.grading._worker import default_pool
from langchain_tora.grading.normalize import normalize_answer

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOLERANCE",
    "RULES",
    "STRUCTURE_RULES",
    "Answer",
    "GradingContext",
    "math_equal",
    "parse_number",
]

DEFAULT_TOLERANCE = 1e-4
"""Relative tolerance of numeric comparison (the released grader's ``rel_tol``)."""
DEFAULT_TIMEOUT = 3.0
"""Seconds of symbolic work one :func:`math_equal` call may spend."""
MAX_SYMBOLIC_LENGTH = 2_000
"""Longer normalised answers are compared as strings only."""
MAX_NESTING = 32
"""Answers with brackets nested deeper than this are not parsed by sympy."""
MAX_ITEMS = 64
"""Sequences with more items than this are not compared item by item."""
MAX_DEPTH = 8
"""Rules call back into the comparison (items of a tuple); deeper calls give up."""
MAX_STEPS = 10_000
"""Sub-comparisons one call may make (items of sets of sets ...); later ones give up."""

_DECIMAL = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+"
_NUMBER = re.compile(rf"([+-]?)({_DECIMAL})(?:[eE]([+-]?\d{{1,3}}))?")
_TIMES_TEN = re.compile(
    rf"([+-]?(?:{_DECIMAL}))(?:\\times|\\cdot|\*)10\^(?:\{{([+-]?\d{{1,3}})\}}|(\d))"
)
_POWER = re.compile(r"([+-]?)(\d{1,6})\^(?:\{([+-]?\d{1,4})\}|(\d))")
_FRACTION = re.compile(
    r"([+-]?)\\frac\{([+-]?(?:" + _DECIMAL + r"))\}\{([+-]?(?:" + _DECIMAL + r"))\}"
)
_MIXED = re.compile(r"([+-]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
# A numeral in another base: ``1011_2``, ``A3_{16}``.
_BASE = re.compile(r"([+-]?)(\d[0-9A-Z]*)_\{?(\d{1,2})\}?")
# Set-builder notation: ``\{x \mid x > 2\}``, ``\{x : x > 2\}``.
_SET_BUILDER = re.compile(r"\\\{\s*([A-Za-z])\s*(?:\\mid|\\vert|\||:)\s*(.+)\\\}")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CHOICE = re.compile(r"\(?([A-Z])\)?")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[^{}]*\}")
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = frozenset(
    {
        "sqrt", "exp", "log", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos",
        "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "pi", "oo", "inf",
        "infty", "frac", "abs", "Abs", "factorial", "binomial", "max", "min", "gcd",
        "lcm", "mod",
    }
)  # fmt: skip
_OPENERS, _CLOSERS = "([{", ")]}"
_PERCENT = re.compile(r"%")
_DEGREE_MARK = re.compile(r"\^\s*\{?\s*\\circ|\u00b0|\\degree(?![A-Za-z])")
# A number of degrees, and a trigonometric function (whose argument is in radians).
_DEGREES_VALUE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:\^\s*(?:\{\s*\\circ\s*\}|\\circ)|\u00b0|\\degree(?![A-Za-z]))"
)
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![A-Za-z])")
# A name that an assignment gives a value to: ``x``, ``AB``, ``a_1``, ``\theta``,
# ``f(x)``, ``m\angle ABC``.
_NAME = re.compile(
    r"[A-Za-z][A-Za-z0-9]?'?|[A-Za-z]_\{?\w+\}?|\\[A-Za-z]+|[A-Za-z]\([A-Za-z]\)"
    r"|m?\\angle ?[A-Z]{1,3}"
)
_NAMES_TUPLE = re.compile(r"\((?:[A-Za-z](?:_\{?\w+\}?)?,)+[A-Za-z](?:_\{?\w+\}?)?\)")
_MATRIX = re.compile(
    r"\\begin\{(matrix|pmatrix|bmatrix|Bmatrix|smallmatrix)\}(.*)\\end\{\1\}"
    r"|[(\[]?\\begin\{array\}\{[^{}]*\}(.*)\\end\{array\}[)\]]?",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Answer:
    """One side of a comparison: the normalised text, and marks the normaliser removes.

    Attributes:
        text: :func:`~langchain_tora.grading.normalize_answer` of the raw answer, with
            equations kept whole (``drop_lhs=False``).
        percent: a percent sign was written (``50\\%``).
        degrees: a degree sign was written (``30^\\circ``).

    Degrees inside a trigonometric function are converted to radians (the sign is not
    just a unit there).

    Example:
        >>> Answer.read(r"50\\%")
        Answer(text='50', percent=True, degrees=False)
        >>> Answer.read(r"y = 2x + 1").text
        'y=2x+1'
        >>> Answer.read(r"\\sin 30^\\circ").text
        '\\\\sin(\\\\frac{30\\\\pi}{180})'
    """

    text: str
    percent: bool = False
    degrees: bool = False

    @classmethod
    def read(cls, raw: str) -> Answer:
        """Normalise a raw answer and note its percent and degree signs."""
        if _TRIG.search(raw) is not None and _DEGREES_VALUE.search(raw) is not None:
            raw = _DEGREES_VALUE.sub(r"(\\frac{\1\\pi}{180})", raw)
        return cls(
            normalize_answer(raw, drop_lhs=False),
            percent=_PERCENT.search(raw) is not None,
            degrees=_DEGREE_MARK.search(raw) is not None,
        )


@dataclass(slots=True)
class GradingContext:
    """The settings of one :func:`math_equal` call, and its symbolic time budget.

    Attributes:
        tolerance: relative tolerance of numeric comparison.
        tora_compatible: whether the released grader's leniency applies.
        budget: seconds of symbolic work left to this call (shared by the items of
            a tuple; each symbolic comparison subtracts what it took).
        depth: how deeply rules have called back into the comparison.
        steps: how many sub-comparisons were made.
    """

    tolerance: float
    tora_compatible: bool
    budget: float
    depth: int = 0
    steps: int = 0

    def compare(self, pred: str, gold: str) -> bool:
        """Compare two sub-answers (items, sides of an equation) under these settings.

        Unequal past :data:`MAX_DEPTH` nested calls or :data:`MAX_STEPS` calls in all.
        """
        if self.depth >= MAX_DEPTH or self.steps >= MAX_STEPS:
            return False
        self.steps += 1
        self.depth += 1
        try:
            return _equal(pred, gold, self)
        finally:
            self.depth -= 1


Rule = Callable[[Answer, Answer, GradingContext], bool | None]
"""A rule: given the prediction, the gold answer and the settings, a verdict or None."""


# ---------------------------------------------------------------------------
# Numbers


def _decimal(sign: str, digits: str, exponent: str | None) -> float | None:
    value = float(sign + digits.replace(",", "") + ("e" + exponent if exponent else ""))
    return value if math.isfinite(value) else None


def parse_number(text: str) -> float | None:
    """The value of a normalised answer that is a plain number, else None.

    Accepted: decimals with thousands separators, scientific notation, ``\\times
    10^{k}``, integer powers, simple and mixed fractions, numerals in bases 2 to 36 (starting with a digit:
    ``a_{12}`` is a variable).

    >>> parse_number("1,000"), parse_number("-.5"), parse_number("1e3")
    (1000.0, -0.5, 1000.0)
    >>> parse_number("3\\\\times10^{5}"), parse_number("-\\\\frac{3}{4}"), parse_number("2\\\\frac{1}{2}")
    (300000.0, -0.75, 2.5)
    >>> parse_number("10^{6}"), parse_number("2^{-3}"), parse_number("1011_2"), parse_number("1A_{16}")
    (1000000.0, 0.125, 11.0, 26.0)
    >>> parse_number("1,2") is None, parse_number("x") is None
    (True, True)
    """
    try:
        match = _NUMBER.fullmatch(text)
        if match is not None:
            return _decimal(*match.groups())
        match = _TIMES_TEN.fullmatch(text)
        if match is not None:
            mantissa = parse_number(match.group(1))
            if mantissa is None:
                return None
            value = mantissa * 10.0 ** int(match.group(2) or match.group(3))
            return value if math.isfinite(value) else None
        match = _POWER.fullmatch(text)
        if match is not None:
            sign, base, exponent = match.group(1), int(match.group(2)), match.group(3)
            power = int(exponent or match.group(4))
            if base > 1 and abs(power) * math.log10(base) > 300:
                return None
            value = float(Fraction(base) ** power)
            return -value if sign == "-" else value
        match = _MIXED.fullmatch(text)
        if match is not None:
            sign, whole, numerator, denominator = match.groups()
            value = int(whole) + int(numerator) / int(denominator)
            return -value if sign == "-" else value
        match = _FRACTION.fullmatch(text)
        if match is not None:
            sign, numerator, denominator = match.groups()
            top, bottom = parse_number(numerator), parse_number(denominator)
            if top is None or not bottom:
                return None
            return -top / bottom if sign == "-" else top / bottom
        match = _BASE.fullmatch(text)
        if match is not None and 2 <= int(match.group(3)) <= 36:
            value = float(int(match.group(2), int(match.group(3))))
            return -value if match.group(1) == "-" else value
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return None


def _close(a: float, b: float, tolerance: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=tolerance)


def _compare_numbers(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Numbers: equal within the relative tolerance.

    A percent sign on one side only makes that side's value either the number shown
    or a hundredth of it: ``50\\%`` answers "what percent" with ``50`` and is the
    number ``0.5``.  In ToRA-compatible mode a prediction also matches ``gold / 100``
    and ``gold * 100``.
    """
    pred_value, gold_value = parse_number(pred.text), parse_number(gold.text)
    if pred_value is None or gold_value is None:
        return None
    preds, golds = [pred_value], [gold_value]
    if pred.percent and not gold.percent:
        preds.append(pred_value / 100)
    if gold.percent and not pred.percent:
        golds.append(gold_value / 100)
    if grading.tora_compatible:  # the released grader's include_percentage
        golds += [gold_value / 100, gold_value * 100]
    return any(_close(p, g, grading.tolerance) for p in preds for g in golds)


def _compare_degrees(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """An angle in degrees against one in radians: ``30^\\circ`` equals ``\\frac{\\pi}{6}``.

    Applies when one side is a number of degrees and the other mentions ``\\pi``.
    """
    for degrees, radians in ((pred, gold), (gold, pred)):
        if (
            degrees.degrees
            and not radians.degrees
            and "\\pi" in radians.text
            and parse_number(degrees.text) is not None
        ):
            converted = "\\frac{\\pi}{180}\\cdot(" + _plain_number(degrees.text) + ")"
            if degrees is pred:
                return _symbolic(converted, radians.text, grading)
            return _symbolic(radians.text, converted, grading)
    return None


# ---------------------------------------------------------------------------
# Structures: choices, equations, plus-minus, matrices, unions, sequences


def _compare_choices(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Multiple-choice letters: ``(B)``, ``B``, ``B)`` and ``\\text{(B)}`` are the letter B."""
    left, right = _CHOICE.fullmatch(pred.text), _CHOICE.fullmatch(gold.text)
    if left is not None and right is not None:
        return left.group(1) == right.group(1)
    return None


def _depths(text: str) -> list[int]:
    """The bracket depth at each character (brackets of any kind)."""
    depths, depth = [], 0
    for char in text:
        if char in _CLOSERS:
            depth -= 1
        depths.append(depth)
        if char in _OPENERS:
            depth += 1
    return depths


def _split_top(text: str, separator: str) -> list[str]:
    """Split at occurrences of ``separator`` outside brackets."""
    depths = _depths(text)
    parts, start, i = [], 0, 0
    while True:
        i = text.find(separator, i)
        if i < 0:
            parts.append(text[start:])
            return parts
        if depths[i] == 0:
            parts.append(text[start:i])
            start = i + len(separator)
        i += len(separator)


def _equation(text: str) -> tuple[str, str] | None:
    """``(left, right)`` of an equation with one ``=`` outside brackets, else None."""
    parts = _split_top(text, "=")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    if parts[0][-1] in "<>!" or text.count("=") != 1:
        return None
    return parts[0], parts[1]


def _is_name(text: str) -> bool:
    return _NAME.fullmatch(text) is not None or _NAMES_TUPLE.fullmatch(text) is not None


def _assignment(text: str) -> tuple[str, str] | None:
    """``(name, value)`` when the answer gives a value to one name, else None.

    ``x=5``, ``5=x``, ``x=2,3`` and ``x=2,x=3`` (solutions), ``(x,y)=(1,2)``.
    """
    equation = _equation(text)
    if equation is not None:
        left, right = equation
        if _is_name(left):
            return left, right
        if _is_name(right):
            return right, left
        return None
    items = _split_top(text, ",")
    if len(items) < 2:
        return None
    pairs = [_equation(item) for item in items]
    names = {pair[0] for pair in pairs if pair is not None}
    if len(names) == 1 and all(pair is not None for pair in pairs) and _is_name(names.pop()):
        return pairs[0][0], ",".join(pair[1] for pair in pairs if pair is not None)
    return None


def _compare_equations(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Equations and assignments.

    * an assignment to one name is its value: ``x = 5`` equals ``5``, ``x = 2, 3`` is the
      list of solutions ``2, 3``;
    * two assignments to the same name compare their values: ``y = 2x + 1`` and
      ``y = 1 + 2x``;
    * other pairs of equations are equal when one is a nonzero constant times the
      other after moving everything to one side (symbolic): ``2x + 3y = 6`` and
      ``y = 2 - 2x/3``; ``x = 5`` and ``y = 5`` differ;
    * an equation that is not an assignment never equals an expression.
    """
    pred_set, gold_set = _assignment(pred.text), _assignment(gold.text)
    pred_eq, gold_eq = _equation(pred.text), _equation(gold.text)
    if pred_set is None and gold_set is None and pred_eq is None and gold_eq is None:
        return None
    if pred_set is not None and gold_set is not None and pred_set[0] == gold_set[0]:
        return grading.compare(pred_set[1], gold_set[1])
    if pred_eq is not None and gold_eq is not None:
        return _symbolic(pred.text, gold.text, grading)
    if pred_set is not None and gold_set is None and gold_eq is None:
        return grading.compare(pred_set[1], gold.text)
    if gold_set is not None and pred_set is None and pred_eq is None:
        return grading.compare(pred.text, gold_set[1])
    return False


def _compare_plus_minus(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """``a \\pm b`` is the list ``a + b, a - b``: ``\\pm 2`` equals ``2, -2``."""
    pred_text, gold_text = _expand_plus_minus(pred.text), _expand_plus_minus(gold.text)
    if pred_text is None and gold_text is None:
        return None
    return grading.compare(pred_text or pred.text, gold_text or gold.text)


def _expand_plus_minus(text: str) -> str | None:
    if text.count("\\pm") != 1 or "\\mp" in text:
        return None
    plus, minus = text.replace("\\pm", "+"), text.replace("\\pm", "-")
    return plus + "," + minus


def _matrix_cells(text: str) -> list[list[str]] | None:
    """The rows of a ``pmatrix``/``bmatrix``/``matrix``/``array``, else None."""
    match = _MATRIX.fullmatch(text)
    if match is None:
        return None
    body = match.group(2) if match.group(2) is not None else match.group(3)
    rows = _split_top(body, "\\\\")
    if rows and not rows[-1].strip():
        rows.pop()
    if len(rows) > MAX_ITEMS:
        return None
    cells = [[cell.strip() for cell in _split_top(row, "&")] for row in rows]
    if not cells or any(not cell for row in cells for cell in row):
        return None
    if any(len(row) > MAX_ITEMS for row in cells):
        return None
    return cells


def _compare_matrices(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Matrices: the same shape and equal entries; ``pmatrix`` and ``bmatrix`` alike.

    A row or column vector also equals the tuple of its entries (``(1, 2)``); a
    matrix never equals anything else.
    """
    left, right = _matrix_cells(pred.text), _matrix_cells(gold.text)
    if left is None and right is None:
        return None
    if left is not None and right is None:
        return _vector_equal(left, gold.text, grading, matrix_is_pred=True)
    if left is None and right is not None:
        return _vector_equal(right, pred.text, grading, matrix_is_pred=False)
    assert left is not None and right is not None
    if [len(row) for row in left] != [len(row) for row in right]:
        return False
    return all(
        grading.compare(a, b)
        for row_a, row_b in zip(left, right, strict=True)
        for a, b in zip(row_a, row_b, strict=True)
    )


def _vector_equal(
    matrix: list[list[str]], other: str, grading: GradingContext, *, matrix_is_pred: bool
) -> bool:
    """A row or column vector against a tuple ``(a, b, ...)``: entry by entry."""
    sequence = _as_sequence(other)
    if sequence is None or sequence.opening != "(" or min(len(matrix), len(matrix[0])) != 1:
        return False
    entries = [cell for row in matrix for cell in row]
    if len(sequence.items) != len(entries):
        return False
    if matrix_is_pred:
        return all(grading.compare(a, b) for a, b in zip(entries, sequence.items, strict=True))
    return all(grading.compare(a, b) for a, b in zip(sequence.items, entries, strict=True))


def _compare_set_builder(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Set-builder notation is its condition: ``\\{x \\mid x > 2\\}`` equals ``(2, \\infty)``."""
    left, right = _SET_BUILDER.fullmatch(pred.text), _SET_BUILDER.fullmatch(gold.text)
    if left is None and right is None:
        return None
    return grading.compare(
        left.group(2) if left is not None else pred.text,
        right.group(2) if right is not None else gold.text,
    )


def _compare_unions(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Unions of intervals: the same pieces in any order, else the same set of points.

    ``(-\\infty, 1) \\cup (2, \\infty)`` equals ``(2, \\infty) \\cup (-\\infty, 1)``; when the
    pieces differ, sympy decides whether they cover the same points
    (``(-\\infty, 1] \\cup (1, 5)`` is ``(-\\infty, 5)``).
    """
    left, right = _split_top(pred.text, "\\cup"), _split_top(gold.text, "\\cup")
    if len(left) < 2 and len(right) < 2:
        return None
    if max(len(left), len(right)) > MAX_ITEMS:
        return False
    if len(left) == len(right) and _match_unordered(tuple(left), tuple(right), grading):
        return True
    return _symbolic(pred.text, gold.text, grading)


@dataclass(frozen=True, slots=True)
class _Sequence:
    """A comma-separated answer: ``(1,2)``, ``[0,\\infty)``, ``\\{1,2\\}`` or ``1,2``."""

    opening: str  # "(", "[", "\\{" or "" (a bare list)
    closing: str
    items: tuple[str, ...]

    @property
    def ordered(self) -> bool:
        """Tuples and intervals are ordered; sets and bare lists are not."""
        return self.opening not in ("", "\\{")


def _split_top_level(text: str) -> list[str] | None:
    """Split at commas outside brackets; None when the brackets do not balance."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth < 0:
                return None
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth != 0:
        return None
    items.append(text[start:])
    return items


def _closing_index(text: str) -> int:
    """Index of the bracket closing the one at ``text[0]`` (any bracket kinds)."""
    depth = 0
    for i, char in enumerate(text):
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _as_sequence(text: str) -> _Sequence | None:
    """Read a normalised answer as a sequence of items, if it is one.

    A bare list needs two items or more; a number with thousands separators
    (``1,000``) is not a list.
    """
    opening = closing = ""
    inner = text
    if text.startswith("\\{") and text.endswith("\\}"):
        opening, closing, inner = "\\{", "\\}", text[2:-2]
    elif text[:1] in "([" and text[-1:] in ")]" and _closing_index(text) == len(text) - 1:
        opening, closing, inner = text[0], text[-1], text[1:-1]
    elif _THOUSANDS.fullmatch(text) is not None:
        return None
    items = _split_top_level(inner)
    if items is None or len(items) > MAX_ITEMS or not all(items):
        return None
    if len(items) < (1 if opening == "\\{" else 2):
        return None
    return _Sequence(opening, closing, tuple(items))


def _compare_sequences(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Tuples, intervals, sets and bare lists.

    * same brackets, then item by item: ``(1,2)`` vs ``(1, 2)`` and ``[1,\\frac{3}{2})``
      vs ``[1,1.5)`` are equal; ``(1,2)`` vs ``(2,1)`` and ``[1,2)`` vs ``[1,2]`` are not;
    * sets ``\\{...\\}`` and bare lists ``1,2`` in any order (the usual form of "all
      solutions"); a bare list also matches a parenthesised tuple, in order;
    * a tuple is not a set: ``(1,2)`` vs ``\\{1,2\\}`` differ.

    None when either side is not a sequence (the next rule decides).
    """
    left, right = _as_sequence(pred.text), _as_sequence(gold.text)
    if left is None or right is None:
        return None  # a sequence against something else: symbolic (x > 2?) decides
    if len(left.items) != len(right.items):
        return False
    if not left.ordered and not right.ordered:
        return _match_unordered(left.items, right.items, grading)
    brackets = {(left.opening, left.closing), (right.opening, right.closing)}
    if len(brackets) == 1 or brackets == {("", ""), ("(", ")")}:
        return all(grading.compare(a, b) for a, b in zip(left.items, right.items, strict=True))
    return False


def _match_unordered(
    left: tuple[str, ...], right: tuple[str, ...], grading: GradingContext
) -> bool:
    unmatched = list(right)
    for item in left:
        for i, candidate in enumerate(unmatched):
            if grading.compare(item, candidate):
                del unmatched[i]
                break
        else:
            return False
    return not unmatched


# ---------------------------------------------------------------------------
# Text


def _is_text(text: str) -> bool:
    """Whether an answer contains words (runs of 3+ letters that are not math names)."""
    bare = _COMMAND.sub(" ", _ENVIRONMENT.sub(" ", text))
    return any(word not in _MATH_WORDS for word in _WORD.findall(bare))


def _compare_text(pred: Answer, gold: Answer, grading: GradingContext) -> bool | None:
    """Words: compared as text, ignoring case, spaces and punctuation.

    ``\\text{Monday}`` equals ``monday.``.  Words never go to sympy, where ``dog`` and
    ``god`` would both be the product ``d*g*o``.  Operators and digits count
    (``x+1 apples`` is not ``x-1 apples``).
    """
    if _is_text(pred.text) or _is_text(gold.text):
        return _plain_words(pred.text) == _plain_words(gold.text)
    return None


def _plain_words(text: str) -> str:
    return re.sub(r"[\s{}\[\]()\\'\"`]+", "", text.casefold()).rstrip(".,;:!?")


RULES: list[Rule] = [
    _compare_choices,
    _compare_equations,
    _compare_plus_minus,
    _compare_numbers,
    _compare_degrees,
    _compare_matrices,
    _compare_set_builder,
    _compare_unions,
    _compare_sequences,
    _compare_text,
]
"""The rules tried, in order, after the string comparison; each returns a verdict or None.

A rule receives the two :class:`Answer` objects and the call's settings; to compare
sub-answers (items of a tuple, sides of an assignment) it calls
:meth:`GradingContext.compare`.  New answer kinds are added here.
"""

STRUCTURE_RULES = RULES
"""The former name of :data:`RULES`."""


# ---------------------------------------------------------------------------
# Symbolic


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSERS:
            depth -= 1
    return deepest


def _plain_number(text: str) -> str:
    """``1,000`` -> ``1000`` (a parser would read the comma as a list)."""
    return text.replace(",", "") if _THOUSANDS.fullmatch(text) else text


def _symbolic(pred: str, gold: str, grading: GradingContext) -> bool:
    """The last rule: sympy, in a helper process, within the call's time budget."""
    if grading.budget <= 0 or max(len(pred), len(gold)) > MAX_SYMBOLIC_LENGTH:
        return False
    if max(_nesting(pred), _nesting(gold)) > MAX_NESTING:
        return False  # the parsers recurse per level: slow, and never a real answer
    pool = default_pool()
    started = time.monotonic()
    verdict = pool.compare(
        _plain_number(pred),
        _plain_number(gold),
        tolerance=grading.tolerance,
        timeout=grading.budget,
    )
    grading.budget -= time.monotonic() - started
    return bool(verdict)


def _equal(pred: str, gold: str, grading: GradingContext) -> bool:
    """Compare two raw answers under one call's settings (rules call back for items)."""
    left, right = Answer.read(pred), Answer.read(gold)
    if not left.text or not right.text:
        return False
    if left.text == right.text:
        return True
    for rule in RULES:
        verdict = rule(left, right, grading)
        if verdict is not None:
            return verdict
    return _symbolic(left.text, right.text, grading)


def math_equal(
    pred: str | float | None,
    gold: str | float | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    timeout: float = DEFAULT_TIMEOUT,
    tora_compatible: bool = False,
) -> bool:
    """Whether a predicted answer equals the gold answer.

    Args:
        pred: the prediction (as extracted by :func:`extract_answer`); None or empty
            is never correct.
        gold: the reference answer.
        tolerance: relative tolerance of numeric comparison.
        timeout: seconds of symbolic (sympy) work this call may spend.  The sympy
            work runs in a helper process that is killed past the limit, so the call
            returns within about ``timeout`` from any thread, plus, once per process,
            the helper's start (about 0.3 s), and plus any wait for a free helper
            when more threads grade at once than there are helpers.  ``0`` turns
            the symbolic rule off.
        tora_compatible: add the released ToRA grader's leniency: a number also
            matches ``gold / 100`` and ``gold * 100``.

    Never raises: anything unexpected means "not equal".

    Rules, with examples:

    >>> math_equal(None, "1"), math_equal("", "1")  # no prediction
    (False, False)
    >>> math_equal(r"\\dfrac{1}{2}", r"\\frac12")  # equal after normalisation
    True

    Numbers: thousands separators, currency, units, degree signs, scientific
    notation; equal within a relative tolerance (``1e-4``: ``0.33333`` is a third,
    ``0.333`` is not):

    >>> math_equal("1,000", "1000"), math_equal("10{,}000", "10000"), math_equal("1,000", "1")
    (True, True, False)
    >>> math_equal(r"\\$18.50", "18.5"), math_equal(r"5 \\text{ cm}", "5"), math_equal("5 dollars", "5")
    (True, True, True)
    >>> math_equal(r"90^\\circ", "90"), math_equal(r"1.5\\times10^{3}", "1500"), math_equal("2.5E-2", "0.025")
    (True, True, True)
    >>> math_equal("0.33333", r"\\frac{1}{3}"), math_equal("0.333", r"\\frac{1}{3}")
    (True, False)

    Percent: a percent sign on one side is a unit or a hundredth; bare numbers that
    differ by a factor of 100 differ (except in ToRA-compatible mode):

    >>> math_equal(r"50\\%", "50"), math_equal(r"50\\%", "0.5"), math_equal(r"5\\%", "0.5")
    (True, True, False)
    >>> math_equal("0.5", "50"), math_equal("0.5", "50", tora_compatible=True)
    (False, True)

    Degrees against radians:

    >>> math_equal(r"30^\\circ", r"\\frac{\\pi}{6}"), math_equal(r"60^\\circ", r"\\frac{\\pi}{6}")
    (True, False)

    Fractions, mixed numbers, repeating decimals:

    >>> math_equal("1011_2", "11")  # a numeral in base 2
    True
    >>> math_equal("3/4", r"\\frac{6}{8}"), math_equal(r"2\\frac{1}{2}", "2.5"), math_equal(r"2\\frac{1}{2}", "1")
    (True, True, False)
    >>> math_equal(r"0.\\overline{3}", r"\\frac{1}{3}"), math_equal(r"0.1\\overline{6}", r"\\frac{1}{6}")
    (True, True)
    >>> math_equal(r"0.\\overline{3}", "0.3")
    False

    Radicals, pi, expressions (symbolic):

    >>> math_equal(r"\\frac{\\sqrt{3}}{2}", r"\\frac{1}{2}\\sqrt{3}"), math_equal(r"\\sqrt{12}", r"3\\sqrt{2}")
    (True, False)
    >>> math_equal(r"\\pi/2", r"\\frac{\\pi}{2}"), math_equal("x^2+2x+1", "(x+1)^2"), math_equal(r"e^{i\\pi}", "-1")
    (True, True, True)

    Intervals (the ends matter) and unions (in any order):

    >>> math_equal("[1, 2)", "[1,2)"), math_equal("(1, 2]", "[1, 2]")
    (True, False)
    >>> math_equal(r"(-\\infty, 1) \\cup (2, \\infty)", r"(2, \\infty) \\cup (-\\infty, 1)")
    True
    >>> math_equal(r"(-\\infty, 1] \\cup (1, 5)", r"(-\\infty, 5)"), math_equal("x > 2", r"(2, \\infty)")
    (True, True)
    >>> math_equal(r"\\{x \\mid x > 2\\}", r"(2, \\infty)")  # set-builder notation
    True

    Tuples are ordered; sets and lists of solutions are not; a tuple is not a set:

    >>> math_equal("(1, 2)", "(1,2)"), math_equal("(1,2)", "(2,1)")
    (True, False)
    >>> math_equal("x = 2, 3", "3, 2"), math_equal(r"\\{2, 1\\}", "1,2"), math_equal(r"\\pm 2", "2, -2")
    (True, True, True)
    >>> math_equal("(1, 2)", r"\\{1, 2\\}")
    False

    Matrices (``pmatrix``, ``bmatrix``, ``matrix``, ``array``), entry by entry:

    >>> p = r"\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"
    >>> math_equal(p, r"\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}")
    True
    >>> math_equal(p, r"\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}")
    False

    Equations: an assignment is its value; other equations are equal when they are
    the same equation rearranged or multiplied by a nonzero constant:

    >>> math_equal("x = 5", "5"), math_equal("y = 2x + 1", "y = 1 + 2x")
    (True, True)
    >>> math_equal("2x + 3y = 6", "y = 2 - 2x/3"), math_equal("x = 5", "y = 5")
    (True, False)

    Multiple-choice letters and text (case-insensitive; words never go to sympy):

    >>> math_equal(r"\\text{(B)}", "B"), math_equal("B)", "(B)"), math_equal("(A)", "B")
    (True, True, False)
    >>> math_equal(r"\\text{Monday}", "monday"), math_equal("dog", "god")
    (True, False)

    Bounded in time, from any thread:

    >>> math_equal(r"9^{9^{9^{9}}}", "1")
    False
    """
    try:
        if pred is None or gold is None:
            return False
        pred_text, gold_text = str(pred).strip(), str(gold).strip()
        if not pred_text or not gold_text:
            return False
        grading = GradingContext(float(tolerance), bool(tora_compatible), float(timeout))
        return _equal(pred_text, gold_text, grading)
    except Exception:
        return False
