"""The E2B interpreter: model-written Python runs in a remote E2B sandbox (a microVM).

:class:`E2BInterpreter` has the interface of
:class:`~langchain_tora.interpreters.LocalInterpreter` and shows the model the same
bytes for the same code: what the snippet printed (capped the same way), the last
line of the CPython traceback on an error, ``Timeout Error`` on a timeout.  It needs
``pip install "langchain-tora[e2b]"`` (``e2b-code-interpreter`` 2.x) and an E2B API
key; :class:`~langchain_tora.interpreters.LocalInterpreter` works offline without one.

How a snippet runs (the SDK calls, checked against ``e2b-code-interpreter`` 2.11):

* one sandbox per interpreter, ``Sandbox.create(template=..., timeout=...,
  allow_internet_access=False, envs=..., metadata=..., api_key=...,
  request_timeout=...)``, created on first use, kept alive with
  ``sandbox.set_timeout()`` while in use, killed by :meth:`E2BInterpreter.close`;
* code contexts (one Jupyter kernel each): ``sandbox.create_code_context()``,
  ``sandbox.run_code(cell, context=ctx, timeout=..., request_timeout=...,
  on_stdout=..., on_stderr=..., on_result=...)``, ``sandbox.remove_code_context(ctx)``;
* the reply is an E2B ``Execution``: ``logs.stdout`` / ``logs.stderr`` (lists of
  chunks), ``error`` (``name``, ``value``, ``traceback``: IPython's, with ANSI colours)
  and ``results`` (rich values such as the last expression of the cell).  Only stdout
  is shown to the model, as in the released ToRA code: ``results`` are ignored.

Two execution modes:

* ``"exec"`` (default): the snippet runs as ``exec(code, namespace)`` inside the
  kernel, through a small runner installed once per context, exactly as the released
  ToRA code and :class:`LocalInterpreter` run it; the runner sends back CPython's last
  traceback line itself, so errors are byte-for-byte those of the local sandbox
  (module-qualified names such as ``numpy.linalg.LinAlgError`` included) and
  ``__name__`` is ``"builtins"``.
* ``"ipython"``: the snippet is the cell itself.  The error line is rebuilt from the
  kernel's ``error.name`` and ``error.value`` as :func:`traceback.format_exception_only`
  prints it (see :func:`cpython_error_line`); this is exact for built-in exceptions,
  but the kernel reports only ``__name__`` (``LinAlgError``, not
  ``numpy.linalg.LinAlgError``), IPython compiles incomplete input differently
  (``print((`` gives ``incomplete input``), dedents the cell and runs magics.

Example:
    >>> from langchain_tora.interpreters import E2BInterpreter, render_execution
    >>> with E2BInterpreter(timeout=10) as python:  # doctest: +SKIP
    ...     render_execution(python.run("print(2 + 2)"))
    '4'
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self

from langchain_tora.interpreters._sandbox_zygote import CappedText, cut_middle
from langchain_tora.interpreters.base import BaseInterpreter, Execution
from langchain_tora.interpreters.local import DEFAULT_PRELOAD, MAX_CODE_CHARS

logger = logging.getLogger(__name__)

E2BMode = Literal["exec", "ipython"]
"""How a snippet runs in the kernel (see the module docstring)."""

API_KEY_ENV = "E2B_API_KEY"
"""The environment variable the E2B SDK reads the API key from."""

RUNNER_NAME = "_tora_run_snippet"
"""Name of the runner function that ``"exec"`` mode installs in each context."""

ERROR_MARKER = "ToRASnippetError"
"""Exception name the runner raises to carry the exact traceback line back."""

_SYNTAX_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError", "_IncompleteInputError"})
# str(SyntaxError) appends " (<file>, line <n>)"; CPython's final traceback line does not.
_SYNTAX_SUFFIX = re.compile(r" \((?:[^()\n]*, )?line -?\d+\)\Z")

_monotonic = time.monotonic  # patched by tests


class MissingE2BAPIKeyError(ValueError):
    """No E2B API key was given and ``E2B_API_KEY`` is not set."""


class E2BInterpreterError(RuntimeError):
    """The E2B sandbox could not run a snippet (not the snippet's own error).

    Raised when the sandbox or a code context cannot be created, when the sandbox is
    gone (killed, expired, unreachable) or on a transport failure.  Errors of the
    snippet itself are never raised: they come back in :attr:`Execution.error`.
    """


class CodeSandbox(Protocol):
    """What :class:`E2BInterpreter` uses of ``e2b_code_interpreter.Sandbox``.

    A ``sandbox_factory`` may return any object with these methods (tests use fakes).
    """

    def create_code_context(
        self,
        cwd: str | None = None,
        language: str | None = None,
        request_timeout: float | None = None,
    ) -> Any:
        """Start a kernel; returns a context object with an ``id``."""
        ...

    def remove_code_context(self, context: Any) -> None:
        """Shut a kernel down."""
        ...

    def run_code(self, code: str, **kwargs: Any) -> Any:
        """Run a cell (``context=``, ``timeout=``, ``on_stdout=``...); returns an Execution."""
        ...

    def set_timeout(self, timeout: int) -> None:
        """Keep the sandbox alive ``timeout`` more seconds."""
        ...

    def kill(self) -> Any:
        """Destroy the sandbox."""
        ...


SandboxFactory = Callable[[], CodeSandbox]


# --------------------------------------------------------------------------- errors


def cpython_error_line(name: str, value: str) -> str:
    """The last traceback line CPython prints for an exception, from its name and str().

    This is what :class:`LocalInterpreter` shows (the last line of
    ``traceback.format_exc()``), rebuilt from what a Jupyter kernel reports
    (``ename`` = the class's ``__name__``, ``evalue`` = ``str(exception)``):

    * ``"Name: value"``, or only ``"Name"`` when ``str()`` is empty;
    * for a multi-line message, its last line (the traceback's last line);
    * for ``SyntaxError`` and its subclasses the ``(file, line n)`` that ``str()``
      appends is dropped, and an empty message reads ``<no detail available>``.

    What cannot be rebuilt: the module prefix of exceptions not defined in
    ``builtins`` (the kernel sends ``LinAlgError``, CPython prints
    ``numpy.linalg.LinAlgError``) and ``__notes__``.

    Example:
        >>> cpython_error_line("NameError", "name 'x' is not defined")
        "NameError: name 'x' is not defined"
        >>> cpython_error_line("ZeroDivisionError", "")
        'ZeroDivisionError'
        >>> cpython_error_line("SyntaxError", "invalid syntax (3012.py, line 1)")
        'SyntaxError: invalid syntax'
        >>> cpython_error_line("ValueError", "first line\\nsecond line")
        'second line'
    """
    if name in _SYNTAX_ERRORS:
        value = _SYNTAX_SUFFIX.sub("", value) or "<no detail available>"
    line = f"{name}: {value}" if value else name
    return line.split("\n")[-1]


# --------------------------------------------------------------------------- setup cells

_PRELOAD_CELL = """\
def _tora_setup(preload, workdir):
    import importlib
    import os
    import tempfile

    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:
            pass
    if workdir:
        os.chdir(tempfile.mkdtemp(prefix="tora-"))


_tora_setup({preload!r}, {workdir!r})
del _tora_setup
"""

_RUNNER_CELL = """\
def _tora_make_runner(keep_namespace):
    import os
    import shutil
    import sys
    import tempfile
    import traceback

    class {marker}(Exception):
        pass

    kept = {{}}
    base = tempfile.mkdtemp(prefix="tora-")
    if keep_namespace:
        os.chdir(base)

    def last_traceback_line():
        try:
            return traceback.format_exc().split("\\n")[-2]
        except BaseException:
            kind, value = sys.exc_info()[:2]
            name = getattr(kind, "__name__", "Exception")
            try:
                return f"{{name}}: {{value}}" if str(value) else name
            except BaseException:
                return name

    def run(code):
        namespace = kept if keep_namespace else {{}}
        workdir = None
        if not keep_namespace:
            workdir = tempfile.mkdtemp(dir=base)
            os.chdir(workdir)
        try:
            exec(code, namespace)
        except BaseException:
            raise {marker}(last_traceback_line()) from None
        finally:
            if workdir is not None:
                try:
                    os.chdir(base)
                    shutil.rmtree(workdir, ignore_errors=True)
                except BaseException:
                    pass

    return run


{runner} = _tora_make_runner({keep!r})
del _tora_make_runner
"""


def _setup_cell(mode: E2BMode, preload: Sequence[str], keep_namespace: bool) -> str:
    cell = _PRELOAD_CELL.format(preload=tuple(preload), workdir=mode == "ipython")
    if mode == "exec":
        cell += "\n" + _RUNNER_CELL.format(
            marker=ERROR_MARKER, runner=RUNNER_NAME, keep=keep_namespace
        )
    return cell


# --------------------------------------------------------------------------- SDK glue


class _DeadlinePassed(Exception):
    """Raised from an output callback to abandon an execution past its time limit."""


def _e2b_exceptions() -> dict[str, Any]:
    """The SDK's exception classes to tell errors apart (nothing matches when e2b is absent)."""

    class _Never(Exception):
        pass

    try:
        import e2b
    except ImportError:
        return {"base": _Never, "timeout": _Never, "gone": _Never}
    gone = tuple(
        getattr(e2b, name)
        for name in (
            "SandboxNotFoundException",
            "SandboxNotRunningException",
            "SandboxUnreachableException",
        )
        if hasattr(e2b, name)
    )
    return {"base": e2b.SandboxException, "timeout": e2b.TimeoutException, "gone": gone or _Never}


def _is_execution_timeout(error: BaseException, timeout_cls: type[BaseException]) -> bool:
    """The SDK's "Execution timed out" error (not a request timeout or a killed sandbox)."""
    return isinstance(error, timeout_cls) and "execution timed out" in str(error).lower()


def _sandbox_gone(error: BaseException, kinds: dict[str, Any]) -> bool:
    """The sandbox was killed, expired or cannot be reached: a new one is needed."""
    if isinstance(error, kinds["gone"]):
        return True
    return isinstance(error, kinds["timeout"]) and "sandbox was killed" in str(error).lower()


def _capped(chunks: Sequence[str], limit: int) -> str:
    sink = CappedText(limit)
    for chunk in chunks:
        sink.write(chunk)
    return sink.getvalue()


@dataclass
class _Session:
    """A code context kept for a session id (a trajectory)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    context: Any = None
    generation: int = -1


def _kill_quietly(sandbox: CodeSandbox) -> None:
    with contextlib.suppress(Exception):
        sandbox.kill()


# --------------------------------------------------------------------------- interpreter


class E2BInterpreter(BaseInterpreter):
    """Runs model-written Python in a remote E2B sandbox, showing what the local sandbox shows.

    One sandbox serves every call and is killed by :meth:`close`.  Stateless (the
    default): a snippet never sees what another defined; each session id (one per
    ToRA trajectory) gets a code context of its own, removed by :meth:`end_session`.
    Stateful: one kept namespace per session id.

    Setup:
        .. code-block:: bash

            pip install "langchain-tora[e2b]"
            export E2B_API_KEY="e2b_..."   # https://e2b.dev/dashboard, "API Keys"

    Instantiate:
        .. code-block:: python

            from langchain_tora.interpreters import E2BInterpreter

            python = E2BInterpreter(
                timeout=5.0,                 # seconds per snippet, as LocalInterpreter
                max_concurrency=8,           # snippets running at once in run_batch
                allow_internet_access=False, # the default: no network from snippets
                # stateful=True,             # keep names across rounds of a session
            )

    Invoke:
        .. code-block:: python

            python.run("print(6 * 7)").stdout            # '42\\n'
            python.run("1 / 0").error                    # 'ZeroDivisionError: division by zero'
            python.run_batch(["print(1)", "print(2)"])   # concurrently, results in order
            python.close()                               # kills the sandbox

            chain = ToRAChain(llm=my_llm, interpreter=E2BInterpreter())

    Async:
        .. code-block:: python

            async with E2BInterpreter() as python:
                execution = await python.arun("print(6 * 7)")
                executions = await python.arun_batch(["print(1)", "print(2)"])

    Differences from :class:`LocalInterpreter` that the model never sees: the
    execution timeout includes the network round trip; a snippet shares its
    context's kernel (imported modules, module state) with the other rounds of the
    same session, while each round still gets a fresh namespace and working
    directory when stateless; output written by subprocesses may be captured.
    """

    def __init__(
        self,
        *,
        timeout: float | None = 5.0,
        request_timeout: float = 30.0,
        startup_timeout: float = 120.0,
        max_output: int = 64 * 1024,
        max_concurrency: int = 8,
        stateful: bool = False,
        mode: E2BMode = "exec",
        allow_internet_access: bool = False,
        template: str | None = None,
        sandbox_timeout: int = 600,
        envs: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        api_key: str | None = None,
        sandbox_factory: SandboxFactory | None = None,
    ) -> None:
        """Configure the interpreter; the sandbox starts on first use (or :meth:`start`).

        Args:
            timeout: seconds a snippet may run (``None``: no limit); past it the
                execution is abandoned, its context discarded and the model sees
                ``Timeout Error``.
            request_timeout: seconds for each API request (sandbox creation, context
                creation and removal, connecting for a run).
            startup_timeout: seconds for a new context's set-up cell (preloads).
            max_output: characters of stdout kept, head and tail, as
                :class:`LocalInterpreter` does.
            max_concurrency: snippets running at once (``run_batch`` and concurrent
                callers together).
            stateful: keep one namespace per session id across runs.
            mode: ``"exec"`` (ToRA semantics, exact errors) or ``"ipython"`` (the
                snippet is a Jupyter cell); see the module docstring.
            allow_internet_access: let snippets reach the internet (off by default).
            template: E2B sandbox template (default: the SDK's code-interpreter template).
            sandbox_timeout: seconds the sandbox lives without being used; it is
                extended while the interpreter runs snippets.
            envs: environment variables of the sandbox.
            metadata: metadata attached to the sandbox (visible in the E2B dashboard).
            preload: modules each new context imports before its first snippet.
            api_key: the E2B API key (default: ``$E2B_API_KEY``).
            sandbox_factory: a callable returning a sandbox object (see
                :class:`CodeSandbox`), instead of ``Sandbox.create``; no key is needed then.

        Raises:
            ImportError: ``e2b-code-interpreter`` is not installed (and no factory given).
            MissingE2BAPIKeyError: no API key (and no factory given).
            ValueError: a limit that cannot work.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        if not request_timeout > 0 or not startup_timeout > 0:
            raise ValueError("request_timeout and startup_timeout must be positive")
        if max_output < 16:
            raise ValueError(f"max_output must be at least 16 characters, got {max_output!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        if mode not in ("exec", "ipython"):
            raise ValueError(f"mode must be 'exec' or 'ipython', got {mode!r}")
        if sandbox_timeout < 10:
            raise ValueError(
                f"sandbox_timeout must be at least 10 seconds, got {sandbox_timeout!r}"
            )
        self.timeout = timeout
        self.request_timeout = request_timeout
        self.startup_timeout = startup_timeout
        self.max_output = max_output
        self.max_concurrency = max_concurrency
        self.stateful = stateful
        self.mode: E2BMode = mode
        self.allow_internet_access = allow_internet_access
        self.template = template
        self.sandbox_timeout = int(sandbox_timeout)
        self.envs = dict(envs or {})
        self.metadata = dict(metadata or {})
        self.preload = tuple(preload)
        self._api_key: str | None = None
        if sandbox_factory is None:
            self._api_key = _require_sdk_and_key(api_key)
            sandbox_factory = self._create_sandbox
        self._factory = sandbox_factory
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._sandbox: CodeSandbox | None = None
        self._finalizer: weakref.finalize | None = None
        self._generation = 0
        self._refreshed_at = 0.0
        self._sessions: dict[str, _Session] = {}
        self._errors = _e2b_exceptions()

    def __repr__(self) -> str:
        state = "running" if self._sandbox is not None else "idle"
        return (
            f"E2BInterpreter(timeout={self.timeout!r}, mode={self.mode!r}, "
            f"max_concurrency={self.max_concurrency}, stateful={self.stateful}, "
            f"allow_internet_access={self.allow_internet_access}, {state})"
        )

    # ------------------------------------------------------------------ life cycle

    def _create_sandbox(self) -> CodeSandbox:
        from e2b_code_interpreter import Sandbox

        options: dict[str, Any] = {
            "timeout": self.sandbox_timeout,
            "allow_internet_access": self.allow_internet_access,
            "api_key": self._api_key,
            "request_timeout": self.request_timeout,
        }
        if self.template is not None:
            options["template"] = self.template
        if self.envs:
            options["envs"] = self.envs
        if self.metadata:
            options["metadata"] = self.metadata
        return Sandbox.create(**options)

    @property
    def sandbox_id(self) -> str | None:
        """The id of the running sandbox (``None`` before the first run and after close)."""
        sandbox = self._sandbox
        return None if sandbox is None else getattr(sandbox, "sandbox_id", None)

    def start(self) -> Self:
        """Create the sandbox now instead of on the first run.

        Raises:
            E2BInterpreterError: the sandbox could not be created.
        """
        self._ensure_sandbox()
        return self

    def _ensure_sandbox(self) -> tuple[CodeSandbox, int]:
        with self._lock:
            sandbox = self._sandbox
            if sandbox is not None:
                if _monotonic() - self._refreshed_at >= self.sandbox_timeout / 2:
                    try:
                        sandbox.set_timeout(self.sandbox_timeout)
                        self._refreshed_at = _monotonic()
                    except Exception as error:
                        if not _sandbox_gone(error, self._errors):
                            raise E2BInterpreterError(
                                f"cannot extend the E2B sandbox's lifetime: {error}"
                            ) from error
                        logger.warning("e2b: the sandbox is gone (%s); starting a new one", error)
                        self._drop_sandbox_locked()
                        sandbox = None
                if sandbox is not None:
                    return sandbox, self._generation
            try:
                sandbox = self._factory()
            except (MissingE2BAPIKeyError, ImportError):
                raise
            except Exception as error:
                raise E2BInterpreterError(f"cannot create the E2B sandbox: {error}") from error
            self._sandbox = sandbox
            self._generation += 1
            self._refreshed_at = _monotonic()
            self._finalizer = weakref.finalize(self, _kill_quietly, sandbox)
            return sandbox, self._generation

    def _drop_sandbox_locked(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills the sandbox (quietly) once
            self._finalizer = None
        self._sandbox = None

    def _drop_sandbox(self, generation: int) -> None:
        with self._lock:
            if self._sandbox is not None and self._generation == generation:
                self._drop_sandbox_locked()

    def close(self) -> None:
        """Kill the sandbox and forget every session; safe to call twice.

        A later run starts a new sandbox.
        """
        with self._lock:
            self._sessions.clear()
            self._drop_sandbox_locked()

    # ------------------------------------------------------------------ contexts

    def _new_context(self, sandbox: CodeSandbox) -> Any:
        try:
            context = sandbox.create_code_context(request_timeout=self.request_timeout)
        except Exception as error:
            raise E2BInterpreterError(f"cannot create an E2B code context: {error}") from error
        cell = _setup_cell(self.mode, self.preload, keep_namespace=self.stateful)
        try:
            reply = sandbox.run_code(
                cell,
                context=context,
                timeout=self.startup_timeout,
                request_timeout=self.request_timeout,
            )
        except Exception as error:
            self._remove_context(sandbox, context)
            raise E2BInterpreterError(f"cannot set up an E2B code context: {error}") from error
        if getattr(reply, "error", None) is not None:
            self._remove_context(sandbox, context)
            failure = reply.error
            raise E2BInterpreterError(
                f"the E2B context's set-up cell failed: {failure.name}: {failure.value}"
            )
        return context

    def _remove_context(self, sandbox: CodeSandbox, context: Any) -> None:
        try:
            sandbox.remove_code_context(context)
        except Exception as error:  # best effort: the kernel dies with the sandbox anyway
            logger.debug("e2b: could not remove a code context: %s", error)

    def end_session(self, session: str) -> None:
        """Remove ``session``'s code context (its namespace, kernel and files).

        A no-op for an unknown session.
        """
        with self._lock:
            entry = self._sessions.pop(session, None)
            sandbox, generation = self._sandbox, self._generation
        if entry is None:
            return
        with entry.lock:
            if entry.context is not None and sandbox is not None and entry.generation == generation:
                self._remove_context(sandbox, entry.context)
            entry.context = None

    def _session(self, session: str) -> _Session:
        with self._lock:
            entry = self._sessions.get(session)
            if entry is None:
                entry = self._sessions[session] = _Session()
            return entry

    # ------------------------------------------------------------------ running

    def _cell(self, code: str) -> str:
        return code if self.mode == "ipython" else f"{RUNNER_NAME}({code!r})"

    def _execute(
        self, sandbox: CodeSandbox, generation: int, context: Any, code: str
    ) -> tuple[Execution, bool]:
        """Run one snippet in ``context``; returns the execution and whether the context is reusable."""
        deadline = None if self.timeout is None else _monotonic() + self.timeout

        def guard(_: Any) -> None:
            if deadline is not None and _monotonic() > deadline:
                raise _DeadlinePassed

        start = time.perf_counter()
        try:
            reply = sandbox.run_code(
                self._cell(code),
                context=context,
                on_stdout=guard,
                on_stderr=guard,
                on_result=guard,
                timeout=0 if self.timeout is None else self.timeout,
                request_timeout=self.request_timeout,
            )
        except _DeadlinePassed:
            return self._timed_out(start), False
        except Exception as error:
            if _is_execution_timeout(error, self._errors["timeout"]):
                return self._timed_out(start), False
            if _sandbox_gone(error, self._errors):
                self._drop_sandbox(generation)
                raise E2BInterpreterError(
                    f"the E2B sandbox is gone ({error}); the next run starts a new one"
                ) from error
            if isinstance(error, self._errors["base"]) and not isinstance(
                error,
                self._errors["timeout"],  # a request (connect) timeout: infrastructure
            ):
                # The kernel failed (crashed, restarted): the snippet's doing, as a
                # killed child is for the local sandbox.  A fresh context comes next.
                logger.warning("e2b: execution failed: %s", error)
                message = f"SandboxError: the E2B execution failed: {error}".split("\n")[0]
                duration = time.perf_counter() - start
                return Execution("", cut_middle(message, self.max_output), False, duration), False
            raise E2BInterpreterError(f"the E2B request failed: {error}") from error
        duration = time.perf_counter() - start
        return self._convert(reply, duration)

    def _timed_out(self, start: float) -> Execution:
        note = f"[e2b] execution abandoned after the {self.timeout:g} s time limit"
        return Execution("", None, True, time.perf_counter() - start, note)

    def _convert(self, reply: Any, duration: float) -> tuple[Execution, bool]:
        logs = reply.logs
        stdout = _capped(logs.stdout, self.max_output)
        stderr = _capped(logs.stderr, self.max_output)
        failure = reply.error
        if failure is None:
            return Execution(stdout, None, False, duration, stderr), True
        if self.mode == "exec" and failure.name == ERROR_MARKER:
            line, reusable = failure.value, True
        else:
            # ipython mode, or the exec runner itself failed (e.g. the kernel restarted
            # and lost it): rebuild the line and start the next run in a fresh context.
            line = cpython_error_line(failure.name, failure.value)
            reusable = self.mode == "ipython"
        return Execution(
            stdout, cut_middle(line, self.max_output), False, duration, stderr
        ), reusable

    def _run_one(self, code: str, session: str | None) -> Execution:
        keep_context = session is not None and (self.mode == "exec" or self.stateful)
        if not keep_context:
            with self._slots:
                sandbox, generation = self._ensure_sandbox()
                context = self._new_context(sandbox)
                try:
                    return self._execute(sandbox, generation, context, code)[0]
                finally:
                    self._remove_context(sandbox, context)
        assert session is not None
        entry = self._session(session)
        with entry.lock, self._slots:
            sandbox, generation = self._ensure_sandbox()
            if entry.context is not None and entry.generation != generation:
                if self.stateful:
                    logger.warning(
                        "e2b: session %r lost its namespace with its sandbox; starting afresh",
                        session,
                    )
                entry.context = None
            if entry.context is None:
                entry.context = self._new_context(sandbox)
                entry.generation = generation
            try:
                execution, reusable = self._execute(sandbox, generation, entry.context, code)
            except BaseException:
                entry.context = None
                raise
            if not reusable:
                self._remove_context(sandbox, entry.context)
                entry.context = None
            return execution

    def _validate(
        self, codes: Sequence[str], sessions: Sequence[str | None] | None
    ) -> list[str | None]:
        if isinstance(codes, str):
            raise TypeError("run_batch expects a sequence of snippets, not a single string")
        session_list: list[str | None] = (
            list(sessions) if sessions is not None else [None] * len(codes)
        )
        if len(session_list) != len(codes):
            raise ValueError(
                f"run_batch: got {len(codes)} snippets but {len(session_list)} sessions"
            )
        for code, session in zip(codes, session_list, strict=True):
            if not isinstance(code, str):
                raise TypeError(f"a snippet must be a str, got {type(code).__name__}")
            if len(code) > MAX_CODE_CHARS:
                raise ValueError(
                    f"a snippet of {len(code)} characters is over the {MAX_CODE_CHARS} limit"
                )
            if session is not None and not isinstance(session, str):
                raise TypeError(f"a session id must be a str or None, got {type(session).__name__}")
        return session_list

    def run(self, code: str, *, session: str | None = None) -> Execution:
        """Run one snippet (in ``session``'s context when a session id is given).

        Example:
            >>> E2BInterpreter().run("print(6 * 7)").stdout  # doctest: +SKIP
            '42\\n'
        """
        return self.run_batch([code], sessions=[session])[0]

    def run_batch(
        self, codes: Sequence[str], *, sessions: Sequence[str | None] | None = None
    ) -> list[Execution]:
        """Run snippets concurrently (``max_concurrency`` at a time); results in order.

        Runs of one session run one after another, in the given order.

        Raises:
            E2BInterpreterError: the sandbox failed (not the snippets: their errors are
                in the executions).
        """
        session_list = self._validate(codes, sessions)
        if not codes:
            return []
        groups: dict[object, list[int]] = {}
        for i, session in enumerate(session_list):
            groups.setdefault(session if session is not None else ("solo", i), []).append(i)
        results: list[Execution | None] = [None] * len(codes)

        def run_group(indices: list[int]) -> None:
            for i in indices:
                results[i] = self._run_one(codes[i], session_list[i])

        if len(groups) == 1:
            run_group(next(iter(groups.values())))
        else:
            workers = min(self.max_concurrency, len(groups))
            with concurrent.futures.ThreadPoolExecutor(workers, "tora-e2b") as pool:
                futures = [pool.submit(run_group, indices) for indices in groups.values()]
                for future in futures:
                    future.result()
        return [r for r in results if r is not None]

    # arun / arun_batch / aclose: BaseInterpreter's, which run the sync client in a
    # worker thread (the event loop never blocks; concurrency is bounded by the
    # interpreter's semaphore, not by the number of awaiting tasks).


def _require_sdk_and_key(api_key: str | None) -> str:
    try:
        import e2b_code_interpreter  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "E2BInterpreter needs the E2B SDK: pip install 'langchain-tora[e2b]' "
            "(e2b-code-interpreter 2.x). LocalInterpreter runs snippets offline without it."
        ) from error
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise MissingE2BAPIKeyError(
            f"E2BInterpreter needs an E2B API key: set {API_KEY_ENV} or pass api_key=... "
            "(create one at https://e2b.dev/dashboard, under 'API Keys'). "
            "LocalInterpreter runs snippets offline and needs no key."
        )
    return key


__all__ = [
    "API_KEY_ENV",
    "CodeSandbox",
    "E2BInterpreter",
    "E2BInterpreterError",
    "E2BMode",
    "MissingE2BAPIKeyError",
    "cpython_error_line",
]
