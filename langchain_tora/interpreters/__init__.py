"""Interpreters that run model-written Python: the interface, the local sandbox and E2B.

``E2BInterpreter`` needs ``pip install "langchain-tora[e2b]"`` only when it is
instantiated: importing this package never imports the E2B SDK.

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
from langchain_tora.interpreters.e2b import (
    E2BInterpreter,
    E2BInterpreterError,
    MissingE2BAPIKeyError,
)
from langchain_tora.interpreters.local import LocalInterpreter

__all__ = [
    "OUTPUT_STYLES",
    "BaseInterpreter",
    "E2BInterpreter",
    "E2BInterpreterError",
    "Execution",
    "LocalInterpreter",
    "MissingE2BAPIKeyError",
    "OutputStyle",
    "render_execution",
]
