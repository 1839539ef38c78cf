"""Interpreters that run model-written Python: the interface and the local sandbox.

Example:
    >>> from langchain_tora.interpreters import LocalInterpreter, render_execution
    >>> with LocalInterpreter(timeout=5) as python:  # doctest: +SKIP
    ...     render_execution(python.run("print(2 + 2)"), style="2023-10")
    '4'
"""

from langchain_tora.interpreters.base import (
    OUTPUT_STYLES,
    BaseInterpreter,
    Execution,
    OutputStyle,
    render_execution,
)
from langchain_tora.interpreters.local import LocalInterpreter

# The E2B interpreter (remote microVM sandbox) will be exported here as well:
# from langchain_tora.interpreters.e2b import E2BInterpreter

__all__ = [
    "OUTPUT_STYLES",
    "BaseInterpreter",
    "Execution",
    "LocalInterpreter",
    "OutputStyle",
    "render_execution",
]
