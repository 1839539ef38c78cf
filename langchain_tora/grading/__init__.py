"""Grading ToRA answers: extract the final answer, normalise it, compare it.

* :func:`extract_answer` finds the final answer of a trajectory: the last
  ``\\boxed{...}`` outside code and output blocks, else "the answer is ...", else
  the last ``output`` block, else the last number.
* :func:`normalize_answer` rewrites an answer to a canonical string (close to the
  ``strip_string`` of the ToRA release).
* :func:`math_equal` decides whether a prediction equals the gold answer: strings,
  then rules for multiple-choice letters, equations, ``\\pm``, numbers (percent,
  degrees, repeating decimals), matrices, unions, tuples/intervals/sets and text,
  then sympy (LaTeX parsed by ``latex2sympy2_extended``) in a helper process under a
  hard time limit.  The default is mathematically strict; ``tora_compatible=True``
  adds the released grader's leniency and reproduces the released metrics.

Example:
    >>> from langchain_tora.grading import extract_answer, math_equal
    >>> answer = extract_answer("```output\\n0.5\\n```\\nSo the answer is $\\\\boxed{\\\\frac{1}{2}}$.")
    >>> answer
    '\\\\frac{1}{2}'
    >>> math_equal(answer, "0.5")
    True
"""

from langchain_tora.grading.equal import math_equal, parse_number
from langchain_tora.grading.extract import extract_answer, split_fenced
from langchain_tora.grading.normalize import normalize_answer

strip_answer = normalize_answer
"""Alias of :func:`normalize_answer` (the name of its counterpart in ToRA is ``strip_string``)."""

__all__ = [
    "extract_answer",
    "math_equal",
    "normalize_answer",
    "parse_number",
    "split_fenced",
    "strip_answer",
]
