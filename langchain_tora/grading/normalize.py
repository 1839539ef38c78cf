"""Answer normalisation: bring two spellings of one answer to one string.

:func:`normalize_answer` is close to the ``strip_string`` of the ToRA release (itself
from the Hendrycks MATH grader): it removes presentation-only LaTeX (``\\left``,
``\\!``, ``^\\circ``, dollar and percent signs, a trailing ``\\text{unit}``), rewrites
shorthand into one canonical form (``\\dfrac`` and ``\\tfrac`` to ``\\frac``,
``\\frac12`` to ``\\frac{1}{2}``, ``\\sqrt2`` to ``\\sqrt{2}``, ``3/4`` to
``\\frac{3}{4}``, ``10{,}000`` to ``10,000``, ``0.1\\overline{6}`` to ``\\frac{1}{6}``),
drops a unit written as words after a number (``5 dollars`` to ``5``), a short left
side (``x = 5`` to ``5``, unless ``drop_lhs=False``) and all spaces.

It deliberately differs from the released function where that one garbles answers:

* ``\\cdot`` is kept (the release deleted it, so ``2\\cdot 3`` became ``23``);
* ``and`` is turned into a comma only as a separate word (the release deleted the
  three letters anywhere, ``\\text{candy}`` included) and ``inf`` only as a word;
* ``\\text{...}``, ``\\textbf{...}``, ``\\mathrm{...}`` and ``\\mbox{...}`` are
  unwrapped to their content rather than leaving ``{...}`` behind, and one brace
  group around the whole answer is removed;
* ``\\left``/``\\right`` are removed only as commands (``\\rightarrow`` stays);
* a space between a command and a following letter is kept (``\\pi r`` must not
  become the unknown command ``\\pir``), and so is one after a one-character
  subscript or superscript (``\\log_2 8`` is not ``\\log_{28}``).

A row break ``\\\\`` (in a matrix) is kept, also before a space, where its second
backslash must not be read as the spacing command ``\\ ``.

The normaliser never fails: it is total on strings (and on anything ``str()`` can
print).

Example:
    >>> normalize_answer(r"\\$1,000.00")
    '1,000'
    >>> normalize_answer(r"\\left( \\dfrac12, 3 \\right)")
    '(\\\\frac{1}{2},3)'
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["normalize_answer"]

# Spacing commands that only change how an answer is typeset.  A row break ``\\``
# (group 1, kept) is matched first, so that its second backslash and a following
# space are not read as the spacing command ``\ ``.
_SPACING = re.compile(r"(\\\\)|\\[!,;:> ]|\\q?quad(?![A-Za-z])")
# A command written with a doubled backslash (``\\frac`` in a JSON-escaped answer).
_DOUBLED_COMMAND = re.compile(r"\\\\(?=[A-Za-z])")
# A command with a single backslash: when there is one, ``\\`` is a row break
# (``1 \\ 2`` in a matrix), not an escaped backslash.
_SINGLE_COMMAND = re.compile(r"(?<!\\)\\[A-Za-z]")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)|\\degree(?![A-Za-z])")
# Wrappers whose argument is plain text: unwrapped to the argument.
_TEXT_WRAPPERS = ("text", "textbf", "textit", "textrm", "mathrm", "mathbf", "mbox", "boldsymbol")
_INFINITY_WORD = re.compile(r"(?<![\\A-Za-z])(?:infinity|inf)(?![A-Za-z])")
_AND_WORD = re.compile(r"\s+(?:and|or)\s+|,\s*(?:and|or)\s+")
# ``{,}`` is how LaTeX sources write a thousands separator (``10{,}000``).
_BRACED_COMMA = re.compile(r"\{\s*,\s*\}")
# A repeating decimal: ``0.1\overline{6}``, ``0.\overline3``, ``2.\bar{5}``.
_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\(?:overline|bar)\s*(?:\{\s*(\d+)\s*\}|(\d))")
_MAX_REPEATING_DIGITS = 200
# A number, a space, and one to three words (a unit): ``5 dollars``, ``12 square feet``.
_UNIT_WORDS = re.compile(
    r"\s*([-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*\\frac\{\d+\}\{\d+\})?|[-+]?\\frac\{\d+\}\{\d+\})"
    r"\s+([A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){0,2})\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*"
)
# Two-letter words that are units (other two-letter words may be variables: ``5 ab``).
_SHORT_UNITS = frozenset(
    {"cm", "mm", "km", "ft", "in", "yd", "mi", "kg", "mg", "lb", "oz", "ml", "mL", "hr", "am", "pm", "AM", "PM"}
)  # fmt: skip
# Words after a number that are not a unit.
_NOT_UNITS = frozenset(
    {
        "pi", "and", "or", "sqrt", "inf", "infty", "infinity", "mod", "times", "sin", "cos",
        "tan", "cot", "sec", "csc", "log", "ln", "exp",
    }
)  # fmt: skip
# A plus sign that starts an item: ``(2, +\infty)``, ``+5``.
_LEADING_PLUS = re.compile(r"(^|[(\[,])\s*\+")
_MEMBERSHIP_PREFIX = re.compile(r"^[A-Za-z]\s*\\in(?![A-Za-z])\s*")
# ``2.000`` -> ``2`` (a run of zeros after the point, not followed by a digit).
_TRAILING_ZEROS = re.compile(r"(\d)\.0+(?!\d)")
# ``.5`` -> ``0.5`` at the start or after a separator.
_BARE_POINT = re.compile(r"(^|[\s{(\[,=+\-])\.(\d)")
# A left side that is just a name: ``x``, ``k``, ``a_1``, ``\theta``.
_SHORT_LHS = re.compile(r"[A-Za-z][A-Za-z0-9']?|[A-Za-z]_\{?\w\}?|\\[A-Za-z]+")
# Spaces that separate tokens: after a command before a letter (``\pi r``), after a
# one-character script before a letter or digit (``\log_2 8``).
_COMMAND_SPACE = re.compile(r"(\\[A-Za-z]+(?=\s+[A-Za-z])|[_^][A-Za-z0-9](?=\s+[A-Za-z0-9]))\s+")
_WHITESPACE = re.compile(r"\s+")
_KEPT_SPACE = "\x00"
_INT_SLASH_INT = re.compile(r"(-?\d+)/(\d+)")


def _match_brace(text: str, start: int) -> int:
    """Index just past the group that opens with ``text[start] == "{"``; -1 if unbalanced."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _unwrap_commands(text: str, names: tuple[str, ...]) -> str:
    """Replace ``\\name{content}`` with ``content`` for every name (balanced braces)."""
    pattern = re.compile(r"\\(?:" + "|".join(names) + r")\s*\{")
    while True:
        found = pattern.search(text)
        if found is None:
            return text
        brace = found.end() - 1
        end = _match_brace(text, brace)
        if end < 0:  # unbalanced: drop just the command name
            return text[: found.start()] + text[brace:]
        text = text[: found.start()] + text[brace + 1 : end - 1] + text[end:]


def _drop_trailing_unit(text: str) -> str:
    """Remove a final ``\\text{...}`` (a unit) when a mathematical answer precedes it.

    ``10 \\text{ cm}^2`` -> ``10``; ``\\text{Monday}`` and ``\\text{(A)}`` are kept (nothing
    would be left), and so is ``x \\text{ or } y`` (the rest does not end like a value).
    """
    found = None
    for match in re.finditer(r"\\(?:text|mbox|mathrm)\s*\{", text):
        found = match
    if found is None:
        return text
    end = _match_brace(text, found.end() - 1)
    if end < 0:
        return text
    tail = text[end:].strip()
    if tail and re.fullmatch(r"\^\s*\{?\s*\d\s*\}?", tail) is None:
        return text  # something other than an exponent follows: not a trailing unit
    rest = text[: found.start()].strip()
    if not rest or "\\text" in rest or "\\mbox" in rest or "\\mathrm" in rest:
        return text
    if not (rest[-1].isalnum() or rest[-1] in ")]}%."):
        return text
    return rest


def _brace_arguments(text: str, command: str, count: int) -> str:
    """Give every argument of ``\\command`` braces: ``\\frac12`` -> ``\\frac{1}{2}``.

    An argument that is not a brace group is one character or one command
    (``\\frac\\pi2`` -> ``\\frac{\\pi}{2}``), as in TeX.  ``\\sqrt[3]8`` keeps its
    optional argument.
    """
    pattern = re.compile(re.escape("\\" + command) + r"(?![A-Za-z])")
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() < pos:
            continue
        out.append(text[pos : match.end()])
        pos = match.end()
        if text.startswith("[", pos):  # optional argument of \sqrt
            close = text.find("]", pos)
            if close < 0:
                break
            out.append(text[pos : close + 1])
            pos = close + 1
        for _ in range(count):
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos >= len(text):
                break
            if text[pos] == "{":
                end = _match_brace(text, pos)
                if end < 0:
                    break
                out.append(text[pos:end])
                pos = end
                continue
            command_token = re.match(r"\\[A-Za-z]+", text[pos:])
            if command_token is not None:
                token = command_token.group(0)
            elif text[pos] in "}^_":
                break  # nothing sensible to wrap: leave the rest alone
            else:
                token = text[pos]
            out.append("{" + token + "}")
            pos += len(token)
    out.append(text[pos:])
    return "".join(out)


def _strip_outer_braces(text: str) -> str:
    """``{5}`` -> ``5`` when one brace group spans the whole answer."""
    while len(text) >= 2 and text[0] == "{" and _match_brace(text, 0) == len(text):
        text = text[1:-1]
    return text


def _repeating_decimals(text: str) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}``: a repeating decimal as its exact fraction."""

    def fraction(match: re.Match[str]) -> str:
        whole, fixed, period = match.group(1), match.group(2), match.group(3) or match.group(4)
        if len(whole) + len(fixed) + len(period) > _MAX_REPEATING_DIGITS:
            return match.group(0)  # no answer has that many digits: leave it alone
        scale = 10 ** len(fixed)
        value = int(whole or "0") + Fraction(int(fixed or "0"), scale)
        value += Fraction(int(period), scale * (10 ** len(period) - 1))
        if value.denominator == 1:
            return str(value.numerator)
        return "\\frac{" + str(value.numerator) + "}{" + str(value.denominator) + "}"

    return _REPEATING.sub(fraction, text)


def _drop_unit_words(text: str) -> str:
    """``5 dollars`` -> ``5``: a number followed by a few words (a unit) is the number.

    ``2 pi``, ``1 and 2`` and ``5 ab`` (a product) are left alone, and so is anything
    that is not a number first (``x + 1 apples``).
    """
    match = _UNIT_WORDS.fullmatch(text)
    if match is None:
        return text
    words = match.group(2).split()
    if any(w.lower() in _NOT_UNITS or (len(w) == 2 and w not in _SHORT_UNITS) for w in words):
        return text
    return match.group(1)


def _drop_short_lhs(text: str) -> str:
    """``x = 5`` -> ``5``, ``\\theta=\\pi`` -> ``\\pi``; longer left sides are kept."""
    if text.count("=") != 1 or any(op in text for op in ("<=", ">=", "\\le", "\\ge", "\\ne")):
        return text
    left, right = text.split("=")
    left = left.strip()
    if right.strip() and _SHORT_LHS.fullmatch(left) is not None and len(left) <= 8:
        return right.strip()
    return text


def normalize_answer(answer: object, *, drop_lhs: bool = True) -> str:
    """Normalise an answer string for comparison (ToRA's ``strip_string``, repaired).

    Each rule, with an example:

    >>> normalize_answer(r"\\left(1, 2\\right)")  # \\left / \\right removed
    '(1,2)'
    >>> normalize_answer(r"3\\!\\,000")  # spacing commands removed
    '3000'
    >>> normalize_answer(r"90^\\circ")  # degrees
    '90'
    >>> normalize_answer(r"\\$18")  # dollar signs
    '18'
    >>> normalize_answer(r"50\\%")  # percent signs (the unit is dropped)
    '50'
    >>> normalize_answer(r"10 \\text{ cm}^2")  # a trailing unit
    '10'
    >>> normalize_answer(r"\\text{Monday}")  # text is unwrapped
    'Monday'
    >>> normalize_answer(r"\\dfrac{3}{4}")  # dfrac / tfrac -> frac
    '\\\\frac{3}{4}'
    >>> normalize_answer("3/4")  # integer a/b -> \\frac{a}{b}
    '\\\\frac{3}{4}'
    >>> normalize_answer(r"\\frac12 + \\sqrt2")  # braces for \\frac and \\sqrt arguments
    '\\\\frac{1}{2}+\\\\sqrt{2}'
    >>> normalize_answer("x = 5")  # a short left side (unless drop_lhs=False)
    '5'
    >>> normalize_answer("x = 5", drop_lhs=False)
    'x=5'
    >>> normalize_answer("10{,}000")  # LaTeX thousands separator
    '10,000'
    >>> normalize_answer(r"0.1\\overline{6}")  # a repeating decimal, as a fraction
    '\\\\frac{1}{6}'
    >>> normalize_answer("12 square feet")  # a number and words: a unit
    '12'
    >>> normalize_answer(r"(2, +\\infty)")  # a leading plus sign
    '(2,\\\\infty)'
    >>> normalize_answer(".5")  # a bare leading point
    '0.5'
    >>> normalize_answer("7.000")  # trailing zeros after the point
    '7'
    >>> normalize_answer("1 and 2"), normalize_answer(r"2 \\text{ or } 3")  # 'and'/'or' between items
    ('1,2', '2,3')
    >>> normalize_answer("infinity")
    '\\\\infty'
    """
    text = str(answer).strip().replace("\n", " ").replace("\u2212", "-").replace("\u00b0", "")
    text = text.rstrip(".").strip()
    text = _SPACING.sub(lambda m: m.group(1) or " ", text)
    if _SINGLE_COMMAND.search(text) is None:
        text = _DOUBLED_COMMAND.sub(r"\\", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _LEFT_RIGHT.sub("", text)
    text = text.replace("\\varnothing", "\\emptyset")
    text = _drop_trailing_unit(text)
    text = _DEGREES.sub("", text)
    text = text.replace("\\$", "").replace("$", "")
    text = _unwrap_commands(text, _TEXT_WRAPPERS)
    text = _MEMBERSHIP_PREFIX.sub("", text)
    text = text.replace("\\%", "").replace("%", "")
    text = _INFINITY_WORD.sub(r"\\infty", text)
    text = _AND_WORD.sub(",", text)
    text = _BRACED_COMMA.sub(",", text)
    text = _repeating_decimals(text)
    text = _drop_unit_words(text)
    text = _LEADING_PLUS.sub(r"\1", text)
    text = _BARE_POINT.sub(r"\g<1>0.\2", text)
    text = _TRAILING_ZEROS.sub(r"\1", text)
    if drop_lhs:
        text = _drop_short_lhs(text)
    # Spaces go, except where they separate tokens (``\pi r``, ``\log_2 8``).
    text = _COMMAND_SPACE.sub(r"\1" + _KEPT_SPACE, text)
    text = _WHITESPACE.sub("", text).replace(_KEPT_SPACE, " ")
    text = _brace_arguments(text, "frac", 2)
    text = _brace_arguments(text, "sqrt", 1)
    text = _strip_outer_braces(text)
    slash = _INT_SLASH_INT.fullmatch(text)
    if slash is not None:
        text = "\\frac{" + slash.group(1) + "}{" + slash.group(2) + "}"
    return text.rstrip(".")
