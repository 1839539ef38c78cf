"""The interpreter interface: run model-written Python, get back what it printed.

Every interpreter (the local sandbox, E2B) implements :class:`BaseInterpreter`:
``run(code) -> Execution`` and ``run_batch(codes) -> list[Execution]``, with async
twins and ``close()``.  What the *model* sees of an execution is decided here too,
by :func:`render_execution`, so that every interpreter shows the model exactly the
same bytes for the same code.

Example:
    >>> from langchain_tora.interpreters import Execution, render_execution
    >>> render_execution(Execution(stdout="1\\n2\\n"), style="2023-10")
    '2'
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Self

OutputStyle = Literal["2023-10", "2023-11"]
"""How an execution is shown to the model.

* ``"2023-10"``: the released inference code of 2023-10-08 (the released outputs):
  the last line of stdout, stripped, cut to 50 + ``...`` + 50 characters when over
  100; on an error the last line of the traceback; a run that printed nothing shows
  ``IndexError: list index out of range`` (that code took the last line of an empty
  list); a timeout shows ``Timeout Error``.
* ``"2023-11"``: the later code: the whole stdout, stripped, cut to 200 + ``...`` +
  200 characters when over 400; ``Done`` when nothing was printed; on an error the
  stdout so far followed by the last line of the traceback.
"""

OUTPUT_STYLES: tuple[str, ...] = ("2023-10", "2023-11")

TIMEOUT_MESSAGE = "Timeout Error"
EMPTY_STDOUT_2023_10 = "IndexError: list index out of range"


@dataclass(frozen=True, slots=True)
class Execution:
    """The result of running one snippet.

    Attributes:
        stdout: everything the snippet printed (possibly cut at the interpreter's
            output cap, then ending with a note saying so).
        error: the last line of the traceback (``"ZeroDivisionError: division by
            zero"``) when the snippet raised, else ``None``.
        timed_out: the snippet ran past the time limit and was killed.
        duration: wall-clock seconds the execution took.
        stderr: what the snippet wrote to stderr (warnings); not shown to the model.
    """

    stdout: str = ""
    error: str | None = None
    timed_out: bool = False
    duration: float = 0.0
    stderr: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        """True when the snippet finished without an error or a timeout."""
        return self.error is None and not self.timed_out

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (used in chain outputs and evaluation files)."""
        return {
            "stdout": self.stdout,
            "error": self.error,
            "timed_out": self.timed_out,
            "duration": round(self.duration, 6),
        }


def _cut(text: str, limit: int) -> str:
    """Keep the head and the tail of an over-long text: ``head...tail``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "..." + text[-half:]


def render_execution(execution: Execution, style: OutputStyle = "2023-10") -> str:
    """The text the model sees inside its ``output`` block for an execution.

    Example:
        >>> render_execution(Execution(stdout="", error=None), style="2023-11")
        'Done'
        >>> render_execution(Execution(error="NameError: name 'x' is not defined"))
        "NameError: name 'x' is not defined"
        >>> render_execution(Execution(timed_out=True))
        'Timeout Error'
    """
    if style not in OUTPUT_STYLES:
        raise ValueError(f"unknown output style {style!r}; use one of {', '.join(OUTPUT_STYLES)}")
    if execution.timed_out:
        return TIMEOUT_MESSAGE
    if style == "2023-10":
        if execution.error is not None:
            return _cut(execution.error.strip(), 100)
        # io.StringIO.readlines() semantics: split on "\n" only.
        lines = execution.stdout.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return EMPTY_STDOUT_2023_10
        last = lines[-1].strip()
        return _cut(last, 100) if last else "Done"
    # 2023-11: whole stdout, then the error line if any.
    text = execution.stdout.strip()
    if execution.error is not None:
        text = f"{text}\n{execution.error.strip()}" if text else execution.error.strip()
    return _cut(text, 400) if text else "Done"


class BaseInterpreter(ABC):
    """Runs untrusted Python snippets.

    Subclasses implement :meth:`run` and may override :meth:`run_batch` (the default
    runs the snippets one after another) and the async twins (the default runs the
    sync method in a worker thread).

    Stateless by default: a snippet never sees what another snippet defined.  An
    interpreter created with ``stateful=True`` keeps one namespace per *session id*
    so that a trajectory can build on its earlier rounds.

    Example:
        >>> from langchain_tora.interpreters import LocalInterpreter
        >>> with LocalInterpreter() as python:  # doctest: +SKIP
        ...     python.run("print(2 + 2)").stdout
        '4\\n'
    """

    @abstractmethod
    def run(self, code: str, *, session: str | None = None) -> Execution:
        """Run one snippet and return what happened.

        Args:
            code: Python source.
            session: with a stateful interpreter, the id of the namespace to run in
                (one per trajectory); ignored by stateless interpreters.
        """

    def run_batch(
        self, codes: Sequence[str], *, sessions: Sequence[str | None] | None = None
    ) -> list[Execution]:
        """Run many snippets (concurrently where the interpreter can) in order."""
        sessions = list(sessions) if sessions is not None else [None] * len(codes)
        if len(sessions) != len(codes):
            raise ValueError("run_batch: give one session per snippet (or none at all)")
        return [self.run(code, session=s) for code, s in zip(codes, sessions, strict=True)]

    async def arun(self, code: str, *, session: str | None = None) -> Execution:
        """Async twin of :meth:`run`."""
        return await asyncio.to_thread(self.run, code, session=session)

    async def arun_batch(
        self, codes: Sequence[str], *, sessions: Sequence[str | None] | None = None
    ) -> list[Execution]:
        """Async twin of :meth:`run_batch`."""
        return await asyncio.to_thread(self.run_batch, codes, sessions=sessions)

    def end_session(self, session: str) -> None:  # noqa: B027 - optional hook
        """Forget the namespace of a stateful session (no-op when stateless)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release processes, sandboxes and files held by the interpreter."""

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
