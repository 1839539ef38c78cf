"""Symbolic equivalence with sympy: the part of grading that may not terminate.

This module runs inside a helper process (see :mod:`langchain_tora.grading._worker`):
``simplify`` and ``evalf`` can run for minutes or exhaust memory on hostile input
(``9^{9^{9^{9}}}``), and a Python thread cannot be stopped, so the parent kills the
process instead.  It is started as a script, by path, so that it imports nothing
but the standard library, sympy and latex2sympy2_extended (not ``langchain_tora``
and its dependencies), which keeps the start-up around a third of a second.

LaTeX is parsed by ``latex2sympy2_extended`` (a dependency of the package); should it
be missing, only plain-text expressions are compared symbolically.

Protocol: one JSON object per line on stdin, ``{"id": 1, "op": "equal", "a": "...",
"b": "...", "tolerance": 1e-4}``; one JSON line back on the original stdout,
``{"id": 1, "result": true}`` (``"error"`` instead of ``"result"`` when the job
raised).  The first line the worker writes is ``{"ready": true}``.  ``op`` can also
be ``"sleep"`` (``"seconds"``), used by the tests of the kill path.

Before any sympy operation that evaluates, :func:`check_size` estimates the number
of digits of every numeric sub-expression from logarithms, without computing it, and
refuses expressions that would exceed :data:`MAX_DIGITS` (a tower of powers, a
huge factorial) or raise a symbolic base to a huge power; those compare unequal
without spending the time limit.
"""

from __future__ import annotations

import cmath
import contextlib
import json
import math
import os
import re
import sys
import threading
import time
from typing import Any

MAX_DIGITS = 100_000
"""Refuse numbers whose estimated size exceeds this many decimal digits."""

MAX_SYMBOLIC_EXPONENT = 1_000
"""Refuse a power of a non-numeric base whose exponent exceeds this."""

# Plain-text input (``sqrt(2)/2``, ``x**2``) goes to sympy's parse_expr, which calls
# eval(): only strings made of these characters, and of known names, go there.
_PLAIN_CHARS = re.compile(r"[0-9A-Za-z_+\-*/^().,\s]*")
_PLAIN_NAMES = frozenset(
    {
        "sqrt", "pi", "E", "I", "exp", "log", "ln", "sin", "cos", "tan", "cot", "sec",
        "csc", "asin", "acos", "atan", "sinh", "cosh", "tanh", "oo", "factorial",
        "binomial", "Abs", "abs",
    }
)  # fmt: skip


class TooLarge(ValueError):
    """The expression would be too expensive to evaluate."""


def _latex_configs() -> tuple[Any, Any]:
    from latex2sympy2_extended import NormalizationConfig
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    normalization = NormalizationConfig(
        basic_latex=True, units=False, malformed_operators=False, nits=False, boxed="none"
    )
    # Case matters in mathematics (A and a are different unknowns).
    conversion = ConversionConfig(interpret_as_mixed_fractions=True, lowercase_symbols=False)
    return normalization, conversion


def _parse_plain(text: str) -> Any:
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    if _PLAIN_CHARS.fullmatch(text) is None or "__" in text:
        raise ValueError("not a plain-text expression")
    for name in re.findall(r"[A-Za-z_]\w*", text):
        if len(name) > 1 and name not in _PLAIN_NAMES:
            raise ValueError(f"unknown name {name!r}")
    transformations = (
        *standard_transformations,
        implicit_multiplication_application,
        convert_xor,
    )
    return parse_expr(text.replace("ln(", "log("), transformations=transformations, evaluate=False)


def parse(text: str) -> Any:
    """Parse an answer into sympy: plain text first when it looks plain, else LaTeX.

    Example:
        >>> parse(r"\\frac{1}{2}")
        1/2
        >>> parse("sqrt(2)/2")
        sqrt(2)/2
    """
    parsers = []
    if "\\" not in text and "{" not in text:
        parsers.append(_parse_plain)
    try:
        from latex2sympy2_extended import latex2sympy
    except ImportError:  # the optional dependency is missing: plain text only
        pass
    else:
        normalization, conversion = _latex_configs()
        parsers.append(
            lambda s: latex2sympy(
                s, normalization_config=normalization, conversion_config=conversion
            )
        )
    error: Exception | None = None
    for parser in parsers:
        try:
            parsed = parser(text)
        except Exception as exc:  # next parser
            error = exc
            continue
        if isinstance(parsed, tuple):  # parse_expr reads "(1, 2)" as a Python tuple
            import sympy

            parsed = sympy.Tuple(*parsed)
        return parsed
    raise ValueError(f"cannot parse {text!r}") from error


_LOG10_2 = math.log10(2)


def _int_log10(value: int) -> tuple[float, float]:
    """Bounds on log10|value| (0 for 0), exact below 2**53, from the bit length above."""
    value = abs(value)
    if value < 2**53:
        exact = math.log10(value) if value else 0.0
        return exact, exact
    bits = value.bit_length()
    return (bits - 1) * _LOG10_2, bits * _LOG10_2


def _log10_range(expr: Any) -> tuple[float, float] | None:
    """Bounds on log10|expr| for a numeric expression, without evaluating it.

    None when ``expr`` is not a number that this estimate understands (a symbol, a
    function).  Every sub-expression is checked on the way: :class:`TooLarge` is
    raised as soon as one would need more than :data:`MAX_DIGITS` digits, or an
    exponent is above ``10**7`` (which only a base of 0 or 1 survives).
    """
    import sympy

    def checked(low: float, high: float) -> tuple[float, float]:
        if max(abs(low), abs(high)) > MAX_DIGITS:
            raise TooLarge(type(expr).__name__)
        return low, high

    if isinstance(expr, sympy.Integer):
        return checked(*_int_log10(int(expr)))
    if isinstance(expr, sympy.Rational):
        top, bottom = _int_log10(expr.p), _int_log10(expr.q)
        return checked(top[0] - bottom[1], top[1] - bottom[0])
    if isinstance(expr, sympy.Float):
        exact = float(sympy.log(abs(expr), 10)) if expr != 0 else 0.0
        return checked(exact, exact)
    if isinstance(expr, sympy.Pow):
        return _power_log10_range(expr, checked)
    if isinstance(expr, sympy.factorial):
        argument = _log10_range(expr.args[0])
        if argument is None:
            return None
        if argument[1] > 6:
            raise TooLarge(type(expr).__name__)
        n = 10.0 ** argument[1]
        return checked(0.0, n * math.log10(max(n, 2.0)))
    if getattr(expr, "is_number", False) and not expr.args:  # pi, E, I, oo ...
        return (0.0, 1.0) if expr.is_finite else None
    ranges = [_log10_range(arg) for arg in getattr(expr, "args", ())]
    if not ranges or any(bounds is None for bounds in ranges):
        return None
    known = [bounds for bounds in ranges if bounds is not None]
    if isinstance(expr, sympy.Mul):
        return checked(sum(b[0] for b in known), sum(b[1] for b in known))
    if isinstance(expr, sympy.Add):
        # At most n times the largest term; it may cancel to anything small.
        high = max(b[1] for b in known) + math.log10(len(known))
        return checked(-max(max(abs(b[0]), abs(b[1])) for b in known), high)
    return None


def _power_log10_range(expr: Any, checked: Any) -> tuple[float, float] | None:
    """:func:`_log10_range` of ``base**exp``: log10|result| = exp * log10|base|."""
    exponent = _log10_range(expr.exp)
    if exponent is not None and exponent[1] > 7:
        if expr.base.is_number and expr.base in (0, 1, -1):
            return 0.0, 0.0
        raise TooLarge(type(expr).__name__)
    if expr.base.free_symbols:
        # x**1000000 is cheap to write and ruinous to expand.
        if exponent is not None and exponent[1] > math.log10(MAX_SYMBOLIC_EXPONENT):
            raise TooLarge(type(expr).__name__)
        return None
    base = _log10_range(expr.base)
    if base is None or exponent is None:
        return None
    smallest, largest = 10.0 ** exponent[0], 10.0 ** exponent[1]
    if expr.exp.is_positive:
        values = (smallest, largest)
    elif expr.exp.is_negative:
        values = (-largest, -smallest)
    else:
        values = (-largest, largest)
    products = [value * log for value in values for log in base]
    return checked(min(products), max(products))


def check_size(expr: Any) -> None:
    """Raise :class:`TooLarge` when evaluating ``expr`` would be too expensive.

    Example:
        >>> try:
        ...     check_size(parse("9^{9^{9^{9}}}"))
        ... except TooLarge:
        ...     print("too large")
        too large
        >>> check_size(parse("2^{100}"))
    """
    import sympy

    if isinstance(expr, sympy.MatrixBase):
        for element in expr:
            check_size(element)
        return
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Pow | sympy.factorial):
            _log10_range(node)
    if isinstance(expr, sympy.Basic):
        _log10_range(expr)


_NEAR_ZERO = 1e-12


def _values(a: Any, b: Any) -> tuple[complex, complex] | None:
    """The complex values of two constant expressions; None if not finite numbers."""
    import sympy

    try:
        exact_a, exact_b = sympy.N(a, 30), sympy.N(b, 30)
        va, vb = complex(exact_a), complex(exact_b)
    except (TypeError, ValueError):
        return None
    if not (cmath.isfinite(va) and cmath.isfinite(vb)):
        return None  # overflowed (or infinite): nothing to measure closeness with
    if (va == 0 and exact_a != 0) or (vb == 0 and exact_b != 0):
        return None  # underflowed (1/2004!): not zero, and no float can say how small
    return va, vb


def _close_values(va: complex, vb: complex, tolerance: float) -> bool:
    return va == vb or abs(va - vb) <= tolerance * max(abs(va), abs(vb))


def _close(a: Any, b: Any, tolerance: float) -> bool:
    """Numeric closeness of two constant sympy expressions (relative tolerance)."""
    if a.free_symbols or b.free_symbols:
        return False
    values = _values(a, b)
    return values is not None and _close_values(*values, tolerance)


def _expressions_equal(a: Any, b: Any, tolerance: float) -> bool:
    """Two scalar expressions: ``simplify(a - b) == 0``, ``a.equals(b)``, or close values.

    Constants are compared by value first (30 digits): equal when close, unequal when
    apart and neither is about zero (where a relative tolerance says nothing, and
    ``simplify`` decides).  ``simplify`` is slow on floats; most answers are constants.
    """
    import sympy

    if not a.free_symbols and not b.free_symbols:
        values = _values(a, b)
        if values is not None:
            if _close_values(*values, tolerance):
                return True
            if min(abs(values[0]), abs(values[1])) > _NEAR_ZERO:
                return False
    difference = a - b
    if difference == 0 or sympy.simplify(difference) == 0:
        return True
    if a.equals(b) is True:
        return True
    return _close(a, b, tolerance)


def _equations_equal(a: Any, b: Any) -> bool:
    """The same equation: ``lhs - rhs`` of one is a nonzero constant times the other's."""
    import sympy

    left, right = a.lhs - a.rhs, b.lhs - b.rhs
    if left == 0 or right == 0:
        return left == right
    ratio = sympy.simplify(left / right)
    return bool(ratio.is_number and ratio != 0 and ratio.is_finite)


def _is_condition(expr: Any) -> bool:
    """An inequality or a combination of them (not an equation)."""
    import sympy

    conditions = (sympy.core.relational.Relational, sympy.And, sympy.Or)
    return isinstance(expr, conditions) and not isinstance(expr, sympy.Eq)


def _as_interval(expr: Any) -> Any:
    """A pair ``(a, b)`` as the open interval; anything else as it is."""
    import sympy

    if isinstance(expr, sympy.Tuple) and len(expr) == 2:
        start, end = expr
        if (start < end) is sympy.true:
            return sympy.Interval.open(start, end)
    return expr


def _as_set(expr: Any) -> Any:
    """A condition on one variable (``x > 2``, ``-1 \\le x < 3``) as its real solution set.

    Anything else is returned as it is.
    """
    if _is_condition(expr) and len(expr.free_symbols) == 1:
        return expr.as_set()
    return expr


def _sets_equal(a: Any, b: Any, tolerance: float) -> bool:
    """Sets: intervals end by end, finite sets element-wise, else as point sets."""
    import sympy

    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        return (
            a.left_open == b.left_open
            and a.right_open == b.right_open
            and sympy_equal(a.start, b.start, tolerance)
            and sympy_equal(a.end, b.end, tolerance)
        )
    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet):
        return _sequence_equal(a, b, tolerance, ordered=False)
    # Unions (evaluated, so that adjacent pieces merge) and other sets: the same
    # points, when sympy can tell.
    a, b = sympy.Union(a), sympy.Union(b)
    if a == b:
        return True
    return bool(sympy.Complement(a, b) == sympy.S.EmptySet) and bool(
        sympy.Complement(b, a) == sympy.S.EmptySet
    )


def sympy_equal(a: Any, b: Any, tolerance: float = 1e-4) -> bool:
    """Whether two parsed answers are mathematically equal.

    Expressions: ``simplify(a - b) == 0``, then ``a.equals(b)``, then numeric
    closeness.  Equations: the same after moving everything to one side, up to a
    nonzero constant factor.  Intervals: the same ends and openness; unions and other
    sets: the same points; a condition on one variable (``x > 2``) is its solution
    set.  Tuples and matrices: element-wise; finite sets in any order.  Objects of
    different kinds (a tuple and a set, an equation and an expression) differ.

    Example:
        >>> sympy_equal(parse(r"\\sqrt{8}"), parse(r"2\\sqrt{2}"))
        True
        >>> sympy_equal(parse("x^2+2x+1"), parse("(x+1)^2"))
        True
        >>> sympy_equal(parse(r"[1, 2)"), parse(r"[1, 2]"))
        False
        >>> sympy_equal(parse("2x+3y=6"), parse("y=2-2x/3"))
        True
        >>> sympy_equal(parse("x > 2"), parse(r"(2, \\infty)"))
        True
        >>> sympy_equal(parse(r"(-\\infty, 1] \\cup (1, 5)"), parse(r"(-\\infty, 5)"))
        True
    """
    import sympy

    if a == b:
        return True
    if isinstance(a, sympy.Set) or isinstance(b, sympy.Set) or _is_condition(a) or _is_condition(b):
        if _is_condition(a) and _is_condition(b) and a.free_symbols != b.free_symbols:
            return False  # x > 2 is not y > 2
        # "(0, 1)" is read as a tuple; against a set or a condition it is an interval.
        a, b = _as_set(_as_interval(a)), _as_set(_as_interval(b))
        if isinstance(a, sympy.Set) and isinstance(b, sympy.Set):
            return _sets_equal(a, b, tolerance)
        return False
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        return _expressions_equal(a, b, tolerance)
    if isinstance(a, sympy.Tuple) and isinstance(b, sympy.Tuple):
        return _sequence_equal(a, b, tolerance, ordered=True)
    if isinstance(a, sympy.Eq) and isinstance(b, sympy.Eq):
        return _equations_equal(a, b)
    if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase):
        return a.shape == b.shape and all(
            sympy_equal(x, y, tolerance) for x, y in zip(a, b, strict=True)
        )
    return False


def _sequence_equal(a: Any, b: Any, tolerance: float, *, ordered: bool) -> bool:
    left, right = list(getattr(a, "args", [a])), list(getattr(b, "args", [b]))
    if len(left) != len(right):
        return False
    if ordered:
        return all(sympy_equal(x, y, tolerance) for x, y in zip(left, right, strict=True))
    unmatched = list(right)
    for x in left:
        for i, y in enumerate(unmatched):
            if sympy_equal(x, y, tolerance):
                del unmatched[i]
                break
        else:
            return False
    return True


def _evaluated(expr: Any) -> Any:
    try:
        return expr.doit()
    except Exception:
        return expr


def _as_answers_mean(expr: Any) -> Any:
    """Read an expression as answers mean it.

    * the symbol ``i`` is the imaginary unit (``1 + 2i``);
    * other symbols are real (``\\sqrt{x^2}`` is ``|x|``);
    * an odd root of a negative number is the real root (``\\sqrt[3]{-8}`` is ``-2``).
    """
    import sympy

    try:
        replacements: dict[Any, Any] = {}
        for symbol in expr.free_symbols:
            if isinstance(symbol, sympy.Symbol):
                if symbol.name == "i":
                    replacements[symbol] = sympy.I
                elif symbol.is_real is None:
                    replacements[symbol] = sympy.Symbol(symbol.name, real=True)
        if replacements:
            expr = expr.xreplace(replacements)

        def odd_root(node: Any) -> bool:
            if not isinstance(node, sympy.Pow):
                return False
            exponent = node.exp
            return (
                node.base.is_number
                and node.base.is_negative is True
                and exponent.is_Rational
                and exponent.p == 1
                and exponent.q % 2 == 1
            )

        return expr.replace(odd_root, lambda node: -sympy.Pow(-node.base, node.exp))
    except Exception:
        return expr


def symbolic_equal(a: str, b: str, tolerance: float = 1e-4) -> bool:
    """Parse two (normalised) answers and compare them; False on any failure.

    Example:
        >>> symbolic_equal(r"\\frac{\\pi}{2}", r"\\pi/2")
        True
        >>> symbolic_equal(r"e^{i\\pi}", "-1")  # i is the imaginary unit
        True
        >>> symbolic_equal(r"\\sqrt{x^2}", "|x|"), symbolic_equal(r"\\sqrt[3]{-8}", "-2")
        (True, True)
        >>> symbolic_equal("9^{9^{9^{9}}}", "1")
        False
    """
    try:
        left, right = parse(a), parse(b)
        check_size(left)
        check_size(right)
        # Sizes are bounded now: evaluate what the parser left unevaluated
        # (``10^{10^{4}}``), which spares simplify() a long detour.
        left, right = _evaluated(left), _evaluated(right)
        left, right = _as_answers_mean(left), _as_answers_mean(right)
        return bool(sympy_equal(left, right, tolerance))
    except Exception:
        return False


def _limit_memory(limit_bytes: int = 4 << 30) -> None:
    """Cap the worker's address space so a runaway expansion fails, not the machine."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY or soft > limit_bytes:
            if hard != resource.RLIM_INFINITY:
                limit_bytes = min(limit_bytes, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))
    except (ImportError, ValueError, OSError):
        pass


def _watch_parent(interval: float = 1.0) -> None:
    """Exit when the parent process goes away, even in the middle of a job.

    A job that runs when its parent is killed would otherwise go on, orphaned, for as
    long as sympy takes; between jobs, the closed stdin ends the loop anyway.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="grading-parent-watch", daemon=True).start()


def serve() -> None:
    """Answer jobs from stdin until it closes (the worker's main loop)."""
    # Keep the protocol channel private: anything else printing to stdout (a
    # library warning) goes to stderr instead.
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    _limit_memory()
    _watch_parent()
    import sympy  # noqa: F401  (import the heavy parts before saying ready)

    with contextlib.suppress(ImportError):
        import latex2sympy2_extended  # noqa: F401

    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        try:
            job = json.loads(line)
        except ValueError:
            continue
        reply: dict[str, Any] = {"id": job.get("id")}
        try:
            if job.get("op") == "sleep":
                time.sleep(float(job["seconds"]))
                reply["result"] = True
            else:
                reply["result"] = symbolic_equal(
                    str(job["a"]), str(job["b"]), float(job.get("tolerance", 1e-4))
                )
        except BaseException as exc:  # MemoryError, RecursionError ... : report, go on
            reply["error"] = f"{type(exc).__name__}: {exc}"[:500]
        channel.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    # Started by path: drop this file's folder from sys.path so that no module here
    # shadows a standard one.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    serve()
