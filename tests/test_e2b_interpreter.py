"""``E2BInterpreter`` against fake sandboxes (the real one is in ``integration_tests/``).

Two fakes stand in for ``e2b_code_interpreter.Sandbox`` and return the SDK's own
types (``Execution``, ``Logs``, ``ExecutionError``, ``Context``):

* :class:`FakeKernelSandbox` runs cells in this process the way a Jupyter kernel
  reports them (``ename`` = the class's ``__name__``, ``evalue`` = ``str()``), so the
  ``"exec"`` mode's runner really runs;
* :class:`RecordedSandbox` answers each cell with a recorded E2B reply (shapes taken
  from IPython 9 tracebacks), for the ``"ipython"`` mode.

The parity tests run the same code through :class:`LocalInterpreter` and compare what
the model would see, byte for byte, in both output styles.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

e2b_sdk = pytest.importorskip("e2b_code_interpreter", reason="e2b-code-interpreter not installed")

from e2b import NotFoundException, SandboxException, SandboxNotRunningException  # noqa: E402
from e2b_code_interpreter import Context, Logs  # noqa: E402
from e2b_code_interpreter import Execution as E2BExecution  # noqa: E402
from e2b_code_interpreter import ExecutionError as E2BError  # noqa: E402
from e2b_code_interpreter.exceptions import (  # noqa: E402
    format_execution_timeout_error,
    format_request_timeout_error,
    format_sandbox_killed_error,
)

from langchain_tora.interpreters import (  # noqa: E402
    OUTPUT_STYLES,
    E2BInterpreter,
    E2BInterpreterError,
    LocalInterpreter,
    MissingE2BAPIKeyError,
    render_execution,
)
from langchain_tora.interpreters import e2b as e2b_module  # noqa: E402
from langchain_tora.interpreters.e2b import cpython_error_line  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parity tests use the local sandbox"
)

RED, RESET = "\x1b[91m", "\x1b[39m"
HANG = "while True: pass"


def _ansi_traceback(name: str, value: str) -> str:
    """An IPython-style coloured traceback (what E2B puts in ``error.traceback``)."""
    rule = "-" * 75
    return (
        f"{RED}{rule}{RESET}\n{RED}{name}{RESET}{' ' * 10}Traceback (most recent call last)\n"
        f"\x1b[96mCell\x1b[39m \x1b[32mIn[1], line 1\x1b[39m\n\n{RED}{name}{RESET}: {value}"
    )


# --------------------------------------------------------------------------- fakes


class _Chunks(io.TextIOBase):
    """A stdout that keeps each write as a chunk, like the kernel's stream messages."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        self.chunks.append(text)
        return len(text)


class FakeKernelSandbox:
    """Runs cells in this process, one namespace per context, as a Jupyter kernel reports them.

    ``HANG`` anywhere in a cell makes ``run_code`` raise the SDK's execution timeout.
    Not thread-safe (cells chdir): use it one run at a time.
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.sandbox_id = "fake-kernel"
        self.contexts: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.removed: list[str] = []
        self.killed = 0
        self.extended: list[int] = []
        self._ids = itertools.count(1)

    def create_code_context(
        self,
        cwd: str | None = None,
        language: str | None = None,
        request_timeout: float | None = None,
    ) -> Context:
        self.calls.append(
            (
                "create_code_context",
                (),
                {"cwd": cwd, "language": language, "request_timeout": request_timeout},
            )
        )
        context = Context(context_id=f"ctx-{next(self._ids)}", language="python", cwd="/home/user")
        self.contexts[context.id] = {"__name__": "__main__"}
        return context

    def remove_code_context(self, context: Context | str) -> None:
        self.calls.append(("remove_code_context", (context,), {}))
        key = context.id if isinstance(context, Context) else context
        self.contexts.pop(key)
        self.removed.append(key)

    def set_timeout(self, timeout: int) -> None:
        self.extended.append(timeout)

    def kill(self) -> bool:
        self.killed += 1
        return True

    def run_code(self, code: str, **kwargs: Any) -> E2BExecution:
        self.calls.append(("run_code", (code,), kwargs))
        if HANG in code:
            raise format_execution_timeout_error()
        context = kwargs.get("context")
        if context is None or context.id not in self.contexts:
            raise NotFoundException(f"context {getattr(context, 'id', None)} not found")
        namespace = self.contexts[context.id]
        out, err = _Chunks(), _Chunks()
        error = None
        saved_cwd, saved_tmp = os.getcwd(), tempfile.tempdir
        tempfile.tempdir = self.workdir
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(code, "<cell>", "exec"), namespace)
        except BaseException as exc:
            name, value = type(exc).__name__, str(exc)
            error = E2BError(name, value, _ansi_traceback(name, value))
        finally:
            os.chdir(saved_cwd)
            tempfile.tempdir = saved_tmp
        return E2BExecution(logs=Logs(stdout=out.chunks, stderr=err.chunks), error=error)


class RecordedSandbox:
    """Answers each snippet with a recorded E2B reply; set-up cells succeed silently.

    A reply may be an E2B ``Execution``, an exception (raised) or a callable taking the
    ``run_code`` keyword arguments.  Thread-safe; counts the runs in flight.
    """

    def __init__(self, replies: dict[str, Any], delay: float = 0.0) -> None:
        self.replies = replies
        self.delay = delay
        self.sandbox_id = "fake-recorded"
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.contexts: set[str] = set()
        self.removed: list[str] = []
        self.killed = 0
        self.extended: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.order: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def create_code_context(self, cwd=None, language=None, request_timeout=None) -> Context:
        with self._lock:
            context = Context(
                context_id=f"ctx-{next(self._ids)}", language="python", cwd="/home/user"
            )
            self.contexts.add(context.id)
            self.calls.append(("create_code_context", (), {"request_timeout": request_timeout}))
        return context

    def remove_code_context(self, context: Context) -> None:
        with self._lock:
            self.contexts.discard(context.id)
            self.removed.append(context.id)
            self.calls.append(("remove_code_context", (context,), {}))

    def set_timeout(self, timeout: int) -> None:
        self.extended.append(timeout)

    def kill(self) -> bool:
        self.killed += 1
        return True

    def run_code(self, code: str, **kwargs: Any) -> E2BExecution:
        with self._lock:
            self.calls.append(("run_code", (code,), kwargs))
        if code.startswith("def _tora_setup"):
            return E2BExecution()
        runner = f"{e2b_module.RUNNER_NAME}("
        if code.startswith(runner):  # exec mode: answer for the snippet inside the call
            code = ast.literal_eval(code[len(runner) : -1])
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.order.append(code)
        try:
            if self.delay:
                time.sleep(self.delay)
            reply = self.replies[code]
            if isinstance(reply, BaseException):
                raise reply
            if callable(reply):
                return reply(**kwargs)
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1


def _out(*chunks: str) -> E2BExecution:
    return E2BExecution(logs=Logs(stdout=list(chunks)))


def _err(name: str, value: str, *stdout: str) -> E2BExecution:
    return E2BExecution(
        logs=Logs(stdout=list(stdout)), error=E2BError(name, value, _ansi_traceback(name, value))
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def local() -> LocalInterpreter:
    with LocalInterpreter(timeout=1.0, max_output=1000, max_workers=2) as python:
        yield python


@pytest.fixture
def kernel(tmp_path) -> FakeKernelSandbox:
    return FakeKernelSandbox(str(tmp_path))


def _e2b(sandbox: Any, **kwargs: Any) -> E2BInterpreter:
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("max_output", 1000)
    return E2BInterpreter(sandbox_factory=lambda: sandbox, **kwargs)


def _same_for_the_model(local_execution, e2b_execution) -> None:
    for style in OUTPUT_STYLES:
        assert render_execution(e2b_execution, style) == render_execution(local_execution, style), (
            style
        )
    assert e2b_execution.stdout == local_execution.stdout
    assert e2b_execution.error == local_execution.error
    assert e2b_execution.timed_out == local_execution.timed_out


# --------------------------------------------------------------------------- parity: exec mode

EXEC_PARITY = [
    "print(2 + 2)",
    "x = 1",  # prints nothing
    "print('a')\nprint('b')",
    "print(x)",
    "1 / 0",
    "print('partial')\nraise ValueError('first\\nsecond')",
    "raise ZeroDivisionError",
    "raise KeyError('k')",
    "print((",
    "def f(:\n  pass",
    "  x = 1",
    "import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))",
    "import sympy\nsympy.sympify('x+')",
    "import sys\nsys.exit(3)",
    "import sys\nsys.exit()",
    "class E(Exception):\n    pass\nraise E('boom')",
    "e = ValueError('v')\ne.add_note('a note')\nraise e",
    "print(__name__)",
    "print('x' * 5000)",  # over max_output: cut in the middle, as locally
    "for i in range(400):\n    print(i)",
    "from sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**2 - 4, x))",
    HANG,
]


@pytest.mark.parametrize("code", EXEC_PARITY)
def test_exec_mode_shows_the_model_what_the_local_sandbox_shows(code, local, kernel):
    with _e2b(kernel) as python:
        remote = python.run(code)
    _same_for_the_model(local.run(code), remote)


def test_exec_mode_in_a_session_gives_each_round_a_fresh_namespace(local, kernel):
    codes = ["x = 41", "print(x + 1)", "print(6 * 7)"]
    with _e2b(kernel) as python:
        remote = python.run_batch(codes, sessions=["traj"] * 3)
        assert len(kernel.contexts) == 1  # one context for the trajectory
        python.end_session("traj")
        assert kernel.contexts == {}
    for code, execution in zip(codes, remote, strict=True):
        _same_for_the_model(local.run(code), execution)
    assert remote[1].error == "NameError: name 'x' is not defined"


def test_exec_mode_errors_travel_exactly_through_the_runner(kernel):
    with _e2b(kernel) as python:
        execution = python.run("import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))")
    assert execution.error == "numpy.linalg.LinAlgError: Singular matrix"
    cell = [c for c in kernel.calls if c[0] == "run_code"][-1][1][0]
    assert cell.startswith(f"{e2b_module.RUNNER_NAME}(")


# --------------------------------------------------------------------------- parity: ipython mode

IPYTHON_REPLIES: dict[str, Any] = {
    "print(2 + 2)": _out("4\n"),
    "x = 1": E2BExecution(),
    "print('a')\nprint('b')": _out("a\n", "b\n"),
    "print(x)": _err("NameError", "name 'x' is not defined"),
    "1 / 0": _err("ZeroDivisionError", "division by zero"),
    "print('partial')\nraise ValueError('first\\nsecond')": _err(
        "ValueError", "first\nsecond", "partial\n"
    ),
    "raise ZeroDivisionError": _err("ZeroDivisionError", ""),
    "raise KeyError('k')": _err("KeyError", "'k'"),
    "def f(:\n  pass": _err("SyntaxError", "invalid syntax (1828342395.py, line 1)"),
    "import sys\nsys.exit(3)": _err("SystemExit", "3"),
    "import sys\nsys.exit()": _err("SystemExit", ""),
    "print('x' * 5000)": _out("x" * 5000 + "\n"),
    HANG: format_execution_timeout_error(),
}


@pytest.mark.parametrize("code", list(IPYTHON_REPLIES))
def test_ipython_mode_maps_e2b_replies_to_what_the_local_sandbox_shows(code, local):
    with _e2b(RecordedSandbox(IPYTHON_REPLIES), mode="ipython") as python:
        remote = python.run(code)
    _same_for_the_model(local.run(code), remote)


def test_ipython_mode_known_differences(local):
    """What the kernel does not report: module prefixes, IPython's own compile flags."""
    replies = {
        "import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))": _err(
            "LinAlgError", "Singular matrix"
        ),
        "print((": _err("SyntaxError", "incomplete input (2930.py, line 1)"),
    }
    with _e2b(RecordedSandbox(replies), mode="ipython") as python:
        linalg, unclosed = python.run_batch(list(replies))
    assert linalg.error == "LinAlgError: Singular matrix"
    assert local.run(next(iter(replies))).error == "numpy.linalg.LinAlgError: Singular matrix"
    assert unclosed.error == "SyntaxError: incomplete input"
    assert local.run("print((").error == "SyntaxError: '(' was never closed"


def test_ipython_mode_ignores_rich_results():
    """The value of a last expression is an E2B ``result``, not stdout: the model never sees it."""
    from e2b_code_interpreter import Result

    replies = {"6 * 7": E2BExecution(results=[Result(text="42", is_main_result=True)])}
    with _e2b(RecordedSandbox(replies), mode="ipython") as python:
        execution = python.run("6 * 7")
    assert execution.stdout == "" and execution.error is None
    assert render_execution(execution, "2023-11") == "Done"


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("NameError", "name 'x' is not defined", "NameError: name 'x' is not defined"),
        ("ZeroDivisionError", "", "ZeroDivisionError"),
        ("ValueError", "a\nb", "b"),
        ("ValueError", "ends with a newline\n", ""),
        (
            "SyntaxError",
            "invalid syntax (<ipython-input-3-1f2e>, line 1)",
            "SyntaxError: invalid syntax",
        ),
        (
            "IndentationError",
            "unexpected indent (3012.py, line 2)",
            "IndentationError: unexpected indent",
        ),
        ("SyntaxError", "", "SyntaxError: <no detail available>"),
        ("SyntaxError", "invalid syntax (line 4)", "SyntaxError: invalid syntax"),
        (
            "RuntimeError",
            "stays (as it is, line 4) here",
            "RuntimeError: stays (as it is, line 4) here",
        ),
    ],
)
def test_cpython_error_line(name, value, line):
    assert cpython_error_line(name, value) == line


def test_cpython_error_line_matches_traceback_for_builtin_exceptions():
    import traceback

    for exc in [ValueError("x\ny"), KeyError("k"), ZeroDivisionError(), OSError(2, "gone")]:
        expected = "".join(traceback.format_exception_only(exc)).split("\n")[-2]
        assert cpython_error_line(type(exc).__name__, str(exc)) == expected


# --------------------------------------------------------------------------- timeouts


def test_sdk_timeout_is_timeout_error_and_discards_the_context():
    replies = {HANG: format_execution_timeout_error(), "print(1)": _out("1\n")}
    sandbox = RecordedSandbox(replies)
    with _e2b(sandbox, stateful=True) as python:
        hung = python.run(HANG, session="s")
        assert hung.timed_out and hung.stdout == "" and hung.error is None
        assert (
            render_execution(hung, "2023-10")
            == render_execution(hung, "2023-11")
            == "Timeout Error"
        )
        assert sandbox.removed == ["ctx-1"]  # the kernel may still be busy: dropped
        assert python.run("print(1)", session="s").stdout == "1\n"
        assert "ctx-2" in sandbox.contexts


def test_deadline_guard_abandons_a_run_that_keeps_printing(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(e2b_module, "_monotonic", lambda: clock[0])

    def chatty(on_stdout, **kwargs):
        for _ in range(3):
            clock[0] += 0.6  # 1.8 s of output against a 1 s limit
            on_stdout("tick\n")
        return _out("tick\n" * 3)

    with _e2b(RecordedSandbox({"spam()": chatty})) as python:
        execution = python.run("spam()")
    assert execution.timed_out
    assert render_execution(execution) == "Timeout Error"


def test_timeout_is_passed_to_the_sdk():
    def snippet_runs(sandbox: RecordedSandbox) -> list[dict[str, Any]]:
        return [
            kw for name, args, kw in sandbox.calls if name == "run_code" and "print(1)" in args[0]
        ]

    sandbox = RecordedSandbox({"print(1)": _out("1\n")})
    with _e2b(sandbox, timeout=7.5, request_timeout=3.0) as python:
        python.run("print(1)")
    (run,) = snippet_runs(sandbox)
    assert run["timeout"] == 7.5 and run["request_timeout"] == 3.0
    unlimited = RecordedSandbox({"print(1)": _out("1\n")})
    with _e2b(unlimited, timeout=None) as python:
        python.run("print(1)")
    (run,) = snippet_runs(unlimited)
    assert run["timeout"] == 0  # the SDK's "no limit"


# --------------------------------------------------------------------------- failures


def test_request_timeout_and_gone_sandbox_raise_instead_of_reaching_the_model():
    sandbox = RecordedSandbox(
        {"slow()": format_request_timeout_error(), "gone()": SandboxNotRunningException("paused")}
    )
    made: list[RecordedSandbox] = []

    def factory() -> RecordedSandbox:
        made.append(sandbox)
        return sandbox

    with E2BInterpreter(sandbox_factory=factory) as python:
        with pytest.raises(E2BInterpreterError, match="request failed"):
            python.run("slow()")
        with pytest.raises(E2BInterpreterError, match="sandbox is gone"):
            python.run("gone()")
        assert sandbox.killed == 1 and python.sandbox_id is None
        sandbox.replies["gone()"] = _out("back\n")
        assert python.run("gone()").stdout == "back\n"  # a new sandbox
        assert len(made) == 2
    with (
        E2BInterpreter(
            sandbox_factory=lambda: RecordedSandbox({"x": format_sandbox_killed_error()})
        ) as python,
        pytest.raises(E2BInterpreterError, match="sandbox is gone"),
    ):
        python.run("x")


def test_kernel_failure_is_a_sandbox_error_for_the_model():
    sandbox = RecordedSandbox({"import os; os._exit(0)": SandboxException("500: kernel died")})
    with _e2b(sandbox) as python:
        execution = python.run("import os; os._exit(0)", session="t")
    assert execution.error == "SandboxError: the E2B execution failed: 500: kernel died"
    assert sandbox.removed  # the context is not reused


def test_failed_context_creation_raises():
    class Broken(RecordedSandbox):
        def create_code_context(self, *args: Any, **kwargs: Any) -> Context:
            raise SandboxException("429: rate limited")

    with _e2b(Broken({})) as python, pytest.raises(E2BInterpreterError, match="code context"):
        python.run("print(1)")


def test_failed_setup_cell_raises_and_removes_the_context():
    class BadSetup(RecordedSandbox):
        def run_code(self, code: str, **kwargs: Any) -> E2BExecution:
            return _err("ModuleNotFoundError", "No module named 'sympy'")

    sandbox = BadSetup({})
    with _e2b(sandbox) as python, pytest.raises(E2BInterpreterError, match="set-up cell failed"):
        python.run("print(1)")
    assert sandbox.removed == ["ctx-1"]


# --------------------------------------------------------------------------- sessions


def test_stateful_sessions_keep_names_and_end_session_removes_them(kernel):
    with _e2b(kernel, stateful=True) as python:
        assert python.run("x = 41", session="a").ok
        assert python.run("print(x + 1)", session="a").stdout == "42\n"
        assert python.run("print(x)", session="b").error == "NameError: name 'x' is not defined"
        assert python.run("print(x)").error == "NameError: name 'x' is not defined"  # no session
        assert len(kernel.contexts) == 2
        python.end_session("a")
        python.end_session("unknown")
        assert len(kernel.contexts) == 1
        assert python.run("print(x)", session="a").error == "NameError: name 'x' is not defined"


def test_stateless_runs_without_a_session_get_a_context_each(kernel):
    with _e2b(kernel) as python:
        python.run_batch(["x = 1", "print(x)"])
        assert kernel.contexts == {}  # each created and removed
        assert len(kernel.removed) == 2


def test_ipython_mode_stateless_sessions_still_get_a_fresh_context_per_run():
    sandbox = RecordedSandbox(
        {"x = 1": E2BExecution(), "print(x)": _err("NameError", "name 'x' is not defined")}
    )
    with _e2b(sandbox, mode="ipython") as python:
        python.run_batch(["x = 1", "print(x)"], sessions=["t", "t"])
    assert len(sandbox.removed) == 2 and not sandbox.contexts


def test_setup_cell_preloads_and_installs_the_runner(kernel):
    with _e2b(kernel, preload=("fractions",)) as python:
        python.run("print(1)", session="s")
    setup = next(args[0] for name, args, _ in kernel.calls if name == "run_code")
    assert "('fractions',)" in setup and e2b_module.RUNNER_NAME in setup
    assert e2b_module.ERROR_MARKER in setup


# --------------------------------------------------------------------------- concurrency


def test_run_batch_is_bounded_and_ordered():
    codes = [f"print({i})" for i in range(8)]
    sandbox = RecordedSandbox({c: _out(c[6:-1] + "\n") for c in codes}, delay=0.05)
    with _e2b(sandbox, max_concurrency=3) as python:
        start = time.perf_counter()
        executions = python.run_batch(codes)
        elapsed = time.perf_counter() - start
    assert [e.stdout for e in executions] == [f"{i}\n" for i in range(8)]
    assert sandbox.max_in_flight == 3
    assert elapsed < 8 * 0.05  # concurrent


def test_runs_of_one_session_stay_in_order():
    codes = [f"step({i})" for i in range(5)]
    sandbox = RecordedSandbox({c: _out("ok\n") for c in codes}, delay=0.01)
    with _e2b(sandbox, max_concurrency=4, stateful=True) as python:
        python.run_batch(codes, sessions=["one"] * 5)
    assert sandbox.order == codes and sandbox.max_in_flight == 1


async def test_async_twins_share_the_bound():
    codes = [f"print({i})" for i in range(6)]
    sandbox = RecordedSandbox({c: _out(c[6:-1] + "\n") for c in codes}, delay=0.05)
    python = _e2b(sandbox, max_concurrency=2)
    async with python:
        single = await python.arun("print(0)")
        many = await asyncio.gather(*(python.arun(c) for c in codes))
        batch = await python.arun_batch(codes)
    assert single.stdout == "0\n"
    assert [e.stdout for e in many] == [e.stdout for e in batch] == [f"{i}\n" for i in range(6)]
    assert sandbox.max_in_flight == 2
    assert sandbox.killed == 1  # aclose


def test_bad_batches_are_rejected_before_anything_runs():
    python = _e2b(RecordedSandbox({}))
    with pytest.raises(TypeError, match="sequence of snippets"):
        python.run_batch("print(1)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 snippets but 1 sessions"):
        python.run_batch(["a", "b"], sessions=["s"])
    with pytest.raises(TypeError, match="must be a str"):
        python.run_batch([1])  # type: ignore[list-item]
    assert python.run_batch([]) == []
    assert python.sandbox_id is None  # nothing started


# --------------------------------------------------------------------------- life cycle


def test_one_sandbox_reused_then_killed_once_by_close(kernel):
    created: list[FakeKernelSandbox] = []

    def factory() -> FakeKernelSandbox:
        created.append(kernel)
        return kernel

    python = E2BInterpreter(sandbox_factory=factory)
    assert python.sandbox_id is None
    python.run("print(1)")
    python.run_batch(["print(2)", "print(3)"])
    assert len(created) == 1 and python.sandbox_id == "fake-kernel"
    python.close()
    python.close()
    assert kernel.killed == 1 and python.sandbox_id is None
    python.run("print(4)")  # a later run starts a new sandbox
    assert len(created) == 2
    python.close()


def test_sandbox_is_kept_alive_while_in_use(monkeypatch, kernel):
    clock = [0.0]
    monkeypatch.setattr(e2b_module, "_monotonic", lambda: clock[0])
    with _e2b(kernel, sandbox_timeout=600) as python:
        python.start()
        clock[0] = 200.0
        python.run("print(1)")
        assert kernel.extended == []
        clock[0] = 301.0
        python.run("print(1)")
        assert kernel.extended == [600]


def test_sandbox_found_gone_at_keepalive_is_replaced(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(e2b_module, "_monotonic", lambda: clock[0])

    class Expired(RecordedSandbox):
        def set_timeout(self, timeout: int) -> None:
            raise SandboxNotRunningException("sandbox not running")

    sandboxes = [Expired({"print(1)": _out("1\n")}), RecordedSandbox({"print(1)": _out("1\n")})]
    python = E2BInterpreter(sandbox_factory=lambda: sandboxes.pop(0), stateful=True)
    python.run("print(1)", session="s")
    clock[0] = 1000.0
    assert python.run("print(1)", session="s").stdout == "1\n"
    assert not sandboxes  # both used
    python.close()


def test_repr_and_argument_checks():
    python = _e2b(RecordedSandbox({}))
    assert "E2BInterpreter(timeout=1.0, mode='exec'" in repr(python) and "idle" in repr(python)
    for bad in ({"timeout": 0}, {"max_concurrency": 0}, {"max_output": 1}, {"mode": "bash"}):
        with pytest.raises(ValueError):
            _e2b(RecordedSandbox({}), **bad)


# --------------------------------------------------------------------------- the real SDK


def test_missing_key_says_where_to_get_one(monkeypatch):
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(MissingE2BAPIKeyError) as info:
        E2BInterpreter()
    message = str(info.value)
    assert "E2B_API_KEY" in message and "https://e2b.dev" in message
    assert "LocalInterpreter" in message and "offline" in message


def test_missing_sdk_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "e2b_code_interpreter", None)
    with pytest.raises(ImportError, match=r"langchain-tora\[e2b\]"):
        E2BInterpreter(api_key="e2b_test")


def test_default_sandbox_uses_the_sdk_with_internet_off(monkeypatch, kernel):
    from e2b_code_interpreter import Sandbox

    real_create = Sandbox.create
    seen: list[dict[str, Any]] = []

    def fake_create(**kwargs: Any) -> FakeKernelSandbox:
        inspect.signature(real_create).bind(**kwargs)  # the installed SDK accepts them
        seen.append(kwargs)
        return kernel

    monkeypatch.setattr(Sandbox, "create", fake_create)
    monkeypatch.setenv("E2B_API_KEY", "e2b_from_env")
    with E2BInterpreter(sandbox_timeout=900, request_timeout=12.0, metadata={"run": "t"}) as python:
        assert python.run("print(1)").stdout == "1\n"
    (options,) = seen
    assert options["allow_internet_access"] is False
    assert options["timeout"] == 900 and options["request_timeout"] == 12.0
    assert options["api_key"] == "e2b_from_env" and options["metadata"] == {"run": "t"}
    assert "template" not in options  # the SDK's code-interpreter template
    with E2BInterpreter(api_key="k", allow_internet_access=True, template="my-tpl") as python:
        python.start()
    assert seen[1]["allow_internet_access"] is True and seen[1]["template"] == "my-tpl"


def test_calls_match_the_installed_sdk_signatures(kernel):
    from e2b_code_interpreter import Sandbox

    with _e2b(kernel, stateful=True) as python:
        python.run("print(1)", session="s")
        python.run(HANG, session="s")
        python.end_session("s")
    methods: dict[str, Callable[..., Any]] = {
        "run_code": Sandbox.run_code,
        "create_code_context": Sandbox.create_code_context,
        "remove_code_context": Sandbox.remove_code_context,
    }
    for name, args, kwargs in kernel.calls:
        inspect.signature(methods[name]).bind(object(), *args, **kwargs)
    assert {name for name, _, _ in kernel.calls} == set(methods)


def test_the_sdk_timeout_messages_are_told_apart():
    timeout_cls = e2b_module._e2b_exceptions()["timeout"]
    kinds = e2b_module._e2b_exceptions()
    assert e2b_module._is_execution_timeout(format_execution_timeout_error(), timeout_cls)
    assert not e2b_module._is_execution_timeout(format_request_timeout_error(), timeout_cls)
    assert not e2b_module._is_execution_timeout(format_sandbox_killed_error(), timeout_cls)
    assert e2b_module._sandbox_gone(format_sandbox_killed_error(), kinds)
    assert not e2b_module._sandbox_gone(format_execution_timeout_error(), kinds)
