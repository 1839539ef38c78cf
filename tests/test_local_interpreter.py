"""Tests of the local sandbox (``LocalInterpreter``) and of ``render_execution``.

Offline and fast: every limit is short (1 s timeouts), one warm interpreter serves
most tests.  Processes are looked up through ``/proc`` (no psutil).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from langchain_tora.interpreters import (
    OUTPUT_STYLES,
    BaseInterpreter,
    Execution,
    LocalInterpreter,
    render_execution,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox tests use /proc"
)


@pytest.fixture(scope="module")
def python() -> LocalInterpreter:
    """A warm stateless sandbox with short limits."""
    with LocalInterpreter(timeout=1.0, memory_limit=1 << 30, max_workers=2) as interpreter:
        interpreter.start()
        yield interpreter


def _cmdlines() -> dict[int, str]:
    """PID -> command line (NUL-separated fields joined by spaces) of every process."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            found[int(entry)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return found


def _processes_with(marker: str) -> list[int]:
    return [pid for pid, cmdline in _cmdlines().items() if marker in cmdline]


def _cpython_error_line(code: str) -> str | None:
    """What the released ToRA code reported for ``code`` (run here, in-process)."""
    try:
        exec(code, {})
    except BaseException:
        return traceback.format_exc().split("\n")[-2]
    return None


# --------------------------------------------------------------------------- basics


def test_is_a_base_interpreter() -> None:
    assert issubclass(LocalInterpreter, BaseInterpreter)


def test_print(python: LocalInterpreter) -> None:
    execution = python.run("print(1 + 1)\nprint('a', 'b')")
    assert execution == Execution(stdout="2\na b\n", duration=execution.duration)
    assert execution.ok and execution.error is None and not execution.timed_out
    assert 0 < execution.duration < 1


def test_sympy_and_numpy_are_preloaded(python: LocalInterpreter) -> None:
    code = "from sympy import *\nx = symbols('x')\nprint(solve(x**2 - 4, x))\nimport numpy as np\nprint(np.arange(4).sum())"
    assert python.run(code).stdout == "[-2, 2]\n6\n"
    assert {"sympy", "numpy"} <= set(python.isolation["preloaded"])


@pytest.mark.parametrize(
    "code",
    [
        "print(x)",
        "1 / 0",
        "x = = 1",
        "def f(:\n    pass",
        "if True:\nprint(1)",
        "import no_such_module_here",
        "raise ValueError('first line\\nsecond line')",
        "[][3]",
        "{}['k']",
        "int('abc')",
        "import sys; sys.exit(3)",
        "exit()",
        "def f(): return f()\nf()",
        "assert 1 == 2, 'nope'",
        "raise KeyboardInterrupt",
    ],
)
def test_error_line_is_cpythons_last_traceback_line(python: LocalInterpreter, code: str) -> None:
    expected = _cpython_error_line(code)
    assert expected  # the test itself is meaningful
    execution = python.run(code)
    assert execution.error == expected
    assert not execution.timed_out


def test_error_examples(python: LocalInterpreter) -> None:
    assert python.run("print(x)").error == "NameError: name 'x' is not defined"
    assert python.run("1/0").error == "ZeroDivisionError: division by zero"
    assert python.run("x = = 1").error == "SyntaxError: invalid syntax"


def test_stdout_before_an_error_is_kept(python: LocalInterpreter) -> None:
    execution = python.run("print('partial')\n1/0")
    assert execution.stdout == "partial\n"
    assert execution.error == "ZeroDivisionError: division by zero"
    assert render_execution(execution, "2023-11") == "partial\nZeroDivisionError: division by zero"
    assert render_execution(execution, "2023-10") == "ZeroDivisionError: division by zero"


def test_globals_are_those_of_the_released_code(python: LocalInterpreter) -> None:
    assert python.run("print(sorted(globals()))").stdout == "['__builtins__']\n"
    # No __name__ in the globals: the name falls through to the builtins module's, so
    # a main guard is silently skipped, as it was in the released code.
    code = "print(__name__)\nif __name__ == '__main__':\n    print('main')"
    assert python.run(code).stdout == "builtins\n"


def test_stderr_is_captured_but_separate(python: LocalInterpreter) -> None:
    execution = python.run(
        "import sys, warnings\nsys.stderr.write('to stderr\\n')\nwarnings.warn('careful')\nprint('out')"
    )
    assert execution.stdout == "out\n"
    assert "to stderr" in execution.stderr and "careful" in execution.stderr


def test_input_raises_eof_because_stdin_is_closed(python: LocalInterpreter) -> None:
    assert python.run("input()").error == "EOFError: EOF when reading a line"
    assert python.run("import sys; print(repr(sys.stdin.read()))").stdout == "''\n"


def test_non_string_code_is_refused(python: LocalInterpreter) -> None:
    with pytest.raises(TypeError, match="str"):
        python.run(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence"):
        python.run_batch("print(1)")


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        LocalInterpreter(timeout=0)
    with pytest.raises(ValueError, match="memory_limit"):
        LocalInterpreter(memory_limit=1000)
    with pytest.raises(ValueError, match="max_workers"):
        LocalInterpreter(max_workers=0)


# --------------------------------------------------------------------- isolation


def test_runs_do_not_see_each_other(python: LocalInterpreter) -> None:
    assert python.run(
        "secret_value = 42\nimport math\nmath.pi = 3\nimport builtins\nbuiltins.len = None"
    ).ok
    assert (
        python.run("print(secret_value)").error == "NameError: name 'secret_value' is not defined"
    )
    assert (
        python.run("import math; print(math.pi, len('ab'))").stdout
        == f"{__import__('math').pi} 2\n"
    )


def test_idle_spare_child_is_fresh_and_follows_limit_changes() -> None:
    # While idle, the zygote keeps one child forked ahead of time (prefork).
    with LocalInterpreter(timeout=1.0) as python:
        assert python.run("a = 1").ok
        time.sleep(0.05)
        assert python.run("print(a)").error == "NameError: name 'a' is not defined"
        time.sleep(0.05)
        python.max_output = 100  # the waiting child was set up for other limits
        capped = python.run("print('x' * 1000)").stdout
        assert len(capped) < 200 and "characters cut" in capped
        time.sleep(0.05)
        python.timeout = 0.5
        start = time.monotonic()
        assert python.run("while True:\n    pass").timed_out
        assert time.monotonic() - start < 1.2


def test_random_streams_differ_between_runs(python: LocalInterpreter) -> None:
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())"
    outputs = {python.run(code).stdout for _ in range(3)}
    assert len(outputs) == 3


def test_working_directory_is_private_and_removed(python: LocalInterpreter) -> None:
    code = (
        "import os, tempfile\n"
        "open('note.txt', 'w').write('x' * 1000)\n"
        "os.makedirs('sub/dir'); open('sub/dir/f', 'w').write('y')\n"
        "print(os.getcwd()); print(os.environ['HOME'] == os.getcwd() == tempfile.gettempdir())\n"
        "print(sorted(os.listdir('.')))"
    )
    first, second = (python.run(code) for _ in range(2))
    cwd1, same, listing = first.stdout.splitlines()
    assert same == "True" and listing == "['note.txt', 'sub']"
    assert "tora-sandbox-" in cwd1 and cwd1 != second.stdout.splitlines()[0]
    assert not Path(cwd1).exists()  # from the caller's side
    assert python.run(f"import os; print(os.path.exists({cwd1!r}))").stdout == "False\n"


def test_caller_environment_secrets_do_not_reach_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "found = []\n"
        "for pid in os.listdir('/proc'):\n"
        "    for name in ('environ', 'cmdline'):\n"
        "        try:\n"
        "            data = open(f'/proc/{pid}/{name}', 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        "        if b'sk-test-secret' in data:\n"
        "            found.append((pid, name))\n"
        "print('found', found)"
    )
    with LocalInterpreter(timeout=2.0) as python:
        execution = python.run(code)
    assert execution.ok, execution
    assert "sk-test-secret" not in execution.stdout
    assert "OPENAI_API_KEY" not in execution.stdout
    assert "found []" in execution.stdout


def test_network_is_unreachable(python: LocalInterpreter) -> None:
    if not python.network_isolated:
        pytest.skip(f"no network namespace here: {python.isolation['notes']}")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\nprint('connected')"
        execution = python.run(code)
        assert execution.error is not None and execution.error.startswith("OSError")
        assert "connected" not in execution.stdout
        with pytest.raises(TimeoutError):
            server.accept()
        outside = python.run(
            "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=0.5)"
        )
        assert outside.error is not None and "unreachable" in outside.error
    finally:
        server.close()


def test_snippet_cannot_kill_the_caller_or_its_processes(python: LocalInterpreter) -> None:
    if not (python.pid_isolated or python.privileges_dropped):
        pytest.skip("neither a PID namespace nor a separate user: the snippet could signal us")
    victim = subprocess.Popen(["sleep", "30"])
    try:
        code = (
            "import os, signal\n"
            f"for target in ({os.getpid()}, {victim.pid}, os.getppid()):\n"
            "    for kill in (os.kill, os.killpg):\n"
            "        try:\n"
            "            kill(target, signal.SIGKILL)\n"
            "        except OSError as exc:\n"
            "            print(type(exc).__name__)\n"
        )
        python.run(code)
        if python.pid_isolated:  # -1: every process we may signal (in our own namespace)
            python.run("import os, signal\nos.kill(-1, signal.SIGKILL)")
        time.sleep(0.1)
        assert victim.poll() is None, "the snippet killed a process of the caller"
        assert python.run("print('still here')").stdout == "still here\n"
    finally:
        victim.kill()
        victim.wait()


def test_filesystem_outside_the_workdir_is_read_only(
    python: LocalInterpreter, tmp_path: Path
) -> None:
    if not python.isolation["filesystem_readonly"] and not python.privileges_dropped:
        pytest.skip(
            f"no read-only mounts and no unprivileged user here: {python.isolation['notes']}"
        )
    target = tmp_path / "written-by-snippet"
    execution = python.run(f"open({str(target)!r}, 'w').write('x')")
    assert execution.error is not None and execution.error.startswith(
        ("OSError", "PermissionError")
    )
    assert not target.exists()


# ------------------------------------------------------------------------- limits


def test_timeout_kills_an_infinite_loop(python: LocalInterpreter) -> None:
    start = time.monotonic()
    execution = python.run("while True:\n    pass")
    elapsed = time.monotonic() - start
    assert execution.timed_out and not execution.ok
    assert 0.9 < elapsed < 2.5
    assert render_execution(execution, "2023-10") == "Timeout Error"
    assert render_execution(execution, "2023-11") == "Timeout Error"
    assert python.run("print('alive')").stdout == "alive\n"


def test_timeout_of_a_sleeping_snippet_and_its_children(python: LocalInterpreter) -> None:
    marker = f"{1000 + random.random():.6f}"
    code = f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'])\ntime.sleep(60)"
    execution = python.run(code)
    assert execution.timed_out
    time.sleep(0.05)
    assert _processes_with(f"sleep {marker}") == []


def test_cpu_time_limit() -> None:
    with LocalInterpreter(timeout=10.0, cpu_time_limit=1) as python:
        start = time.monotonic()
        execution = python.run("while True:\n    pass")
    assert execution.timed_out
    assert time.monotonic() - start < 5
    assert "CPU" in execution.stderr


def test_memory_hog_gets_memory_error(python: LocalInterpreter) -> None:
    execution = python.run("x = bytearray(10 * 1024**3)")
    assert execution.error == "MemoryError"
    numpy_hog = python.run("import numpy as np\nx = np.ones(10**10)")
    assert numpy_hog.error is not None and "MemoryError" in numpy_hog.error
    assert python.run("x = bytearray(100 * 1024**2); print(len(x))").stdout == "104857600\n"


def test_output_is_capped_keeping_head_and_tail() -> None:
    with LocalInterpreter(timeout=5.0, max_output=1000) as python:
        execution = python.run("for i in range(100000):\n    print(i)")
    assert execution.ok
    assert len(execution.stdout) < 1100
    assert execution.stdout.startswith("0\n1\n2\n")
    assert execution.stdout.endswith("99998\n99999\n")
    assert "characters cut" in execution.stdout
    assert render_execution(execution, "2023-10") == "99999"


def test_output_flood_returns_quickly(python: LocalInterpreter) -> None:
    start = time.monotonic()
    execution = python.run("for i in range(10**7):\n    print(i)")
    assert time.monotonic() - start < 2.5
    assert len(execution.stdout) <= python.max_output + 200
    huge_error = python.run("raise ValueError('x' * 10**6)")
    assert huge_error.error is not None and len(huge_error.error) <= python.max_output + 200


def test_file_size_limit() -> None:
    with LocalInterpreter(timeout=2.0, max_file_size=1 << 20) as python:
        execution = python.run("open('big', 'wb').write(b'x' * (2 << 20))")
    assert execution.error is not None and "File too large" in execution.error


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "process-groups"])
def test_no_process_survives_the_run(namespaces: bool) -> None:
    marker = f"{1000 + random.random():.6f}"
    code = (
        "import os, subprocess\n"
        f"subprocess.Popen(['sleep', '{marker}'])\n"
        "if os.fork() == 0:\n"  # a daemon: new session, double fork
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "print('spawned')"
    )
    with LocalInterpreter(timeout=2.0, namespaces=namespaces) as python:
        execution = python.run(code)
        assert execution.stdout == "spawned\n", execution
        assert _processes_with(f"sleep {marker}") == []


def test_process_count_is_capped(python: LocalInterpreter) -> None:
    if python.isolation["process_cap"] is None:
        pytest.skip(
            "no process cap here (root without a per-namespace pid_max): "
            "only the timeout stops a fork bomb"
        )
    code = (
        "import errno, subprocess\n"
        "n = 0\n"
        "try:\n"
        "    for _ in range(2000):\n"
        "        subprocess.Popen(['sleep', '60'])\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno], n)"
    )
    with LocalInterpreter(timeout=10.0) as roomy:  # 300 spawns may take a while
        execution = roomy.run(code)
    assert execution.stdout.startswith("EAGAIN"), execution
    assert int(execution.stdout.split()[1]) < 2000


def test_a_crashing_snippet_is_reported(python: LocalInterpreter) -> None:
    segfault = python.run("import ctypes\nctypes.string_at(0)")
    assert segfault.error is not None and "SIGSEGV" in segfault.error
    early_exit = python.run("import os\nos._exit(3)")
    assert early_exit.error is not None and "status 3" in early_exit.error


# ------------------------------------------------------------------ concurrency


def test_run_batch_keeps_order_and_runs_concurrently(python: LocalInterpreter) -> None:
    codes = [f"print({i} * {i})" for i in range(40)]
    results = python.run_batch(codes)
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(40)]
    start = time.monotonic()
    slow = python.run_batch(["import time; time.sleep(0.4); print('ok')"] * 2)
    assert time.monotonic() - start < 0.75  # two at once, not one after the other
    assert [r.stdout for r in slow] == ["ok\n", "ok\n"]
    assert python.run_batch([]) == []
    with pytest.raises(ValueError, match="sessions"):
        python.run_batch(["print(1)"], sessions=[None, None])


def test_threads_may_share_an_interpreter(python: LocalInterpreter) -> None:
    results: dict[int, str] = {}

    def work(k: int) -> None:
        for j in range(5):
            results[k * 10 + j] = python.run(f"print({k} + {j})").stdout

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {k * 10 + j: f"{k + j}\n" for k in range(4) for j in range(5)}


@pytest.mark.asyncio
async def test_async_twins_do_not_block_the_loop(python: LocalInterpreter) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        execution = await python.arun("import time; time.sleep(0.3); print('done')")
        batch = await python.arun_batch(["print(1)", "1/0", "print(3)"])
    finally:
        task.cancel()
    assert execution.stdout == "done\n"
    assert ticks >= 5
    assert [r.stdout for r in batch] == ["1\n", "", "3\n"]
    assert batch[1].error == "ZeroDivisionError: division by zero"
    gathered = await asyncio.gather(*(python.arun(f"print({i})") for i in range(6)))
    assert [r.stdout for r in gathered] == [f"{i}\n" for i in range(6)]


# ----------------------------------------------------------------------- sessions


def test_stateful_sessions_keep_their_own_namespace() -> None:
    with LocalInterpreter(timeout=1.0, stateful=True) as python:
        assert python.run("a = 41\nopen('kept.txt', 'w').write('k')", session="t1").ok
        assert python.run("print(a + 1, open('kept.txt').read())", session="t1").stdout == "42 k\n"
        assert python.run("print(a)", session="t2").error == "NameError: name 'a' is not defined"
        assert (
            python.run("print(a)").error == "NameError: name 'a' is not defined"
        )  # no session: stateless
        batch = python.run_batch(["b = 1", "b += 1", "print(b)"], sessions=["t3"] * 3)
        assert batch[2].stdout == "2\n"
        python.end_session("t1")
        assert python.run("print(a)", session="t1").error == "NameError: name 'a' is not defined"
        python.end_session("never-started")


def test_stateful_session_after_a_timeout_starts_fresh() -> None:
    marker = f"{1000 + random.random():.6f}"
    with LocalInterpreter(timeout=1.0, stateful=True) as python:
        python.run(
            f"a = 1\nimport subprocess\nsubprocess.Popen(['sleep', '{marker}'])", session="s"
        )
        assert _processes_with(f"sleep {marker}") == []  # killed after the round
        assert python.run("print(a)", session="s").stdout == "1\n"
        assert python.run("while True: pass", session="s").timed_out
        assert python.run("print(a)", session="s").error == "NameError: name 'a' is not defined"


def test_stateless_interpreter_ignores_session_ids(python: LocalInterpreter) -> None:
    python.run("z = 1", session="x")
    assert python.run("print(z)", session="x").error == "NameError: name 'z' is not defined"
    python.end_session("x")  # no-op


# ---------------------------------------------------------------------- life cycle


def test_zygote_restarts_after_being_killed() -> None:
    with LocalInterpreter(timeout=5.0) as python:
        first_pid = python.start().zygote_pid
        assert first_pid is not None
        pending: list[Execution] = []
        thread = threading.Thread(
            target=lambda: pending.append(python.run("import time; time.sleep(3)"))
        )
        thread.start()
        time.sleep(0.3)
        os.kill(first_pid, signal.SIGKILL)
        thread.join(timeout=5)
        assert (
            pending and pending[0].error is not None and pending[0].error.startswith("SandboxError")
        )
        assert python.run("print('back')").stdout == "back\n"
        assert python.zygote_pid not in (None, first_pid)


def test_close_leaves_no_process_behind() -> None:
    python = LocalInterpreter(timeout=5.0, stateful=True)
    workdir = python.run("import os; print(os.getcwd())").stdout.strip()
    base = os.path.dirname(workdir)
    python.run("x = 1", session="open-session")
    threading.Thread(target=python.run, args=("import time; time.sleep(3)",), daemon=True).start()
    time.sleep(0.2)
    assert _processes_with(base)  # the zygote's command line names its directory
    python.close()
    time.sleep(0.05)
    assert _processes_with(base) == []
    assert not os.path.exists(base)
    python.close()  # twice is fine
    assert python.run("print(1)").stdout == "1\n"  # and a new zygote starts on demand
    python.close()


def test_context_manager_and_lazy_start() -> None:
    with LocalInterpreter(timeout=1.0) as python:
        assert python.zygote_pid is None
        assert python.run("print('lazy')").stdout == "lazy\n"
        pid = python.zygote_pid
        assert pid is not None
    assert python.zygote_pid is None
    assert not Path(f"/proc/{pid}").exists() or "_sandbox_zygote" not in Path(
        f"/proc/{pid}/cmdline"
    ).read_text(errors="replace")


# ------------------------------------------------------------------ render_execution


def test_output_styles() -> None:
    assert OUTPUT_STYLES == ("2023-10", "2023-11")
    with pytest.raises(ValueError, match="style"):
        render_execution(Execution(), style="2024")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("execution", "expected"),
    [
        (Execution(stdout="1\n2\n"), "2"),
        (Execution(stdout="  42  \n"), "42"),
        (Execution(stdout="no newline"), "no newline"),
        (Execution(stdout=""), "IndexError: list index out of range"),
        (Execution(stdout="answer\n\n"), "Done"),
        (Execution(stdout="answer\n   \n"), "Done"),
        (Execution(stdout="x" * 100 + "\n"), "x" * 100),
        (Execution(stdout="a" * 50 + "b" + "c" * 50 + "\n"), "a" * 50 + "..." + "c" * 50),
        (
            Execution(stdout="out\n", error="NameError: name 'x' is not defined"),
            "NameError: name 'x' is not defined",
        ),
        (Execution(error="E: " + "e" * 200), "E: " + "e" * 47 + "..." + "e" * 50),
        (Execution(stdout="3\n", timed_out=True), "Timeout Error"),
    ],
)
def test_render_2023_10(execution: Execution, expected: str) -> None:
    assert render_execution(execution, "2023-10") == expected


@pytest.mark.parametrize(
    ("execution", "expected"),
    [
        (Execution(stdout="1\n2\n"), "1\n2"),
        (Execution(stdout=""), "Done"),
        (Execution(stdout="  \n\n"), "Done"),
        (Execution(stdout="y" * 400), "y" * 400),
        (Execution(stdout="a" * 200 + "b" * 10 + "c" * 200), "a" * 200 + "..." + "c" * 200),
        (
            Execution(stdout="partial\n", error="ZeroDivisionError: division by zero"),
            "partial\nZeroDivisionError: division by zero",
        ),
        (
            Execution(error="ZeroDivisionError: division by zero"),
            "ZeroDivisionError: division by zero",
        ),
        (Execution(stdout="3\n", timed_out=True), "Timeout Error"),
    ],
)
def test_render_2023_11(execution: Execution, expected: str) -> None:
    assert render_execution(execution, "2023-11") == expected


def test_render_of_real_executions(python: LocalInterpreter) -> None:
    assert render_execution(python.run("x = 1"), "2023-10") == "IndexError: list index out of range"
    assert render_execution(python.run("x = 1"), "2023-11") == "Done"
    assert render_execution(python.run("print('a')\nprint()"), "2023-10") == "Done"
    assert render_execution(python.run("print(1/3)"), "2023-10") == "0.3333333333333333"
