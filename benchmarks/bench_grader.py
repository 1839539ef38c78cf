"""Benchmark of the grader: pairs per second on the MATH test set's gold answers.

Measures, in one run on one machine, for ``langchain_tora.grading.math_equal``
(strict mode) and for math-verify (``verify(parse(gold), parse(pred))``, both sides
wrapped in ``$...$``):

(a) ``self``: every gold answer compared with itself (5000 pairs; the verdict
    should be "equal" for all);
(b) ``decimal``: every gold answer that has a finite real value compared with that
    value written as a decimal, ``f"{value:.6f}"`` (the prediction) -- the kind of
    answer a program prints.  Six decimal places are not six significant digits:
    a small value (``0.000123``) loses relative precision, so not every pair is
    equal within a relative tolerance of ``1e-4``.

Gold answers are the last ``\\boxed{}`` of each ``solution``
(:func:`langchain_tora.grading.extract_answer`).  Decimal values are computed before
timing, with sympy on the answer parsed by ``latex2sympy2_extended`` (degrees inside
a trigonometric function converted to radians, numerals in another base such as
``2112_6`` converted by ``int``; at most one second per answer).

Data: ``$TORA_DATA_DIR/eval/math/test.jsonl`` (``TORA_DATA_DIR`` defaults to
``../shared/data`` next to the repository).

Usage::

    python benchmarks/bench_grader.py [--limit 500] [--skip-math-verify]

Prints a table and writes the figures to ``benchmarks/results/grader.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import langchain_tora  # noqa: F401
except ModuleNotFoundError:  # running from a checkout without an install
    sys.path.insert(0, str(REPO))

from machine_info import machine_info  # noqa: E402  (benchmarks/, beside this file)

from langchain_tora.grading import _symbolic, extract_answer, math_equal  # noqa: E402
from langchain_tora.grading._worker import default_pool  # noqa: E402

MATH_TEST = Path("eval/math/test.jsonl")
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)(?![A-Za-z])")
_BASE_NUMERAL = re.compile(r"(\d+)_\{?(\d{1,2})\}?")
DECIMAL_SECONDS = 1.0

Grader = Callable[[str, str], bool]


def data_dir() -> Path:
    """``$TORA_DATA_DIR``, else ``../shared/data`` relative to the repository root."""
    return Path(os.environ.get("TORA_DATA_DIR") or REPO.parent / "shared" / "data")


def load_golds(path: Path, limit: int | None) -> list[str]:
    """The gold answers (last ``\\boxed{}`` of each solution), in file order."""
    golds = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            gold = extract_answer(json.loads(line)["solution"])
            if gold:
                golds.append(gold)
            if limit is not None and len(golds) >= limit:
                break
    return golds


class _Expired(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_Expired` in the main thread after ``seconds`` (SIGALRM)."""

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def decimal_value(answer: str) -> str | None:
    """``f"{value:.6f}"`` when the answer is a finite real number, else None.

    A numeral in another base (``2112_6``, which ``latex2sympy`` reads as ``2112``) is
    converted by ``int(digits, base)``.

    Example:
        >>> decimal_value(r"\\frac{\\sqrt{3}}{2}"), decimal_value("(1, 2)"), decimal_value("x+1")
        ('0.866025', None, None)
        >>> decimal_value(r"\\cos 60^\\circ"), decimal_value("2112_6")
        ('0.500000', '476.000000')
    """
    import sympy
    from latex2sympy2_extended import latex2sympy

    numeral = _BASE_NUMERAL.fullmatch(answer.strip())
    if numeral is not None:
        try:
            return f"{int(numeral.group(1), int(numeral.group(2))):.6f}"
        except ValueError:
            return None
    try:
        with _time_limit(DECIMAL_SECONDS):
            # Degrees count as such inside a trigonometric function (cos 58 degrees).
            expr = latex2sympy(answer, convert_degrees=_TRIG.search(answer) is not None)
            if not isinstance(expr, sympy.Expr) or expr.free_symbols:
                return None
            _symbolic.check_size(expr)
            value = complex(sympy.N(expr, 20))
    except (_Expired, Exception):
        return None
    if value.imag != 0 or not math.isfinite(value.real):
        return None
    return f"{value.real:.6f}"


def ours(pred: str, gold: str) -> bool:
    return math_equal(pred, gold)


def math_verify_grader() -> Grader | None:
    """math-verify's ``verify(parse(gold), parse(pred))``; None when not installed."""
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def wrap(answer: str) -> str:
        return f"${answer}$"

    def grade(pred: str, gold: str) -> bool:
        try:
            return bool(verify(parse(wrap(gold)), parse(wrap(pred))))
        except Exception:
            return False

    return grade


def run(grader: Grader, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Grade every pair; throughput and the fraction judged equal."""
    start = time.perf_counter()
    verdicts = [grader(pred, gold) for pred, gold in pairs]
    seconds = time.perf_counter() - start
    return {
        "pairs": len(pairs),
        "seconds": seconds,
        "pairs_per_s": len(pairs) / seconds if seconds else float("inf"),
        "equal": sum(verdicts),
        "equal_fraction": sum(verdicts) / len(pairs) if pairs else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N gold answers")
    parser.add_argument("--skip-math-verify", action="store_true", help="benchmark our grader only")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "grader.json")
    args = parser.parse_args(argv)

    path = data_dir() / MATH_TEST
    if not path.is_file():
        print(f"MATH test set not found at {path}: set TORA_DATA_DIR", file=sys.stderr)
        return 2
    golds = load_golds(path, args.limit)
    start = time.perf_counter()
    decimals = [decimal_value(gold) for gold in golds]
    decimal_seconds = time.perf_counter() - start
    cases = {
        "self": [(gold, gold) for gold in golds],
        "decimal": [
            (decimal, gold) for gold, decimal in zip(golds, decimals, strict=True) if decimal
        ],
    }

    graders: dict[str, Grader] = {"ours": ours}
    other = None if args.skip_math_verify else math_verify_grader()
    if other is not None:
        graders["math_verify"] = other
    for grader in graders.values():  # warm-up: imports, the helper process, caches
        grader("\\frac{\\sqrt{2}}{2}", "0.707107")
    results = {
        name: {case: run(grader, pairs) for case, pairs in cases.items()}
        for name, grader in graders.items()
    }
    pool = default_pool()

    report = {
        "machine": machine_info(),
        "data": str(path),
        "gold_answers": len(golds),
        "with_decimal_value": len(cases["decimal"]),
        "decimal_values_seconds": decimal_seconds,
        "ours_symbolic_requests": pool.requests,
        "ours_symbolic_timeouts": pool.killed,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(
        f"{len(golds)} gold answers, {len(cases['decimal'])} with a decimal value "
        f"(load average {report['machine']['load_average_1m']:.1f}, "
        f"{report['machine']['cpu_count']} CPUs)"
    )
    print(f"{'grader':<12} {'case':<8} {'pairs':>6} {'pairs/s':>9} {'equal':>8}")
    for name, by_case in results.items():
        for case, figures in by_case.items():
            print(
                f"{name:<12} {case:<8} {figures['pairs']:>6} {figures['pairs_per_s']:>9.1f} "
                f"{100 * figures['equal_fraction']:>7.2f}%"
            )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
