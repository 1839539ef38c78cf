"""``E2BInterpreter`` against the real E2B service (needs ``E2B_API_KEY``).

The model must see the same bytes from E2B as from the local sandbox: every parity
test runs the code in both and compares what ``render_execution`` gives in both
output styles.  The snippets avoid messages that changed between Python versions
(the sandbox's Python may differ from the local one).

    E2B_API_KEY=e2b_... python -m pytest integration_tests/test_e2b.py -rs
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest
from langchain_core.language_models import GenericFakeChatModel

from langchain_tora import ToRAChain
from langchain_tora.interpreters import (
    OUTPUT_STYLES,
    E2BInterpreter,
    LocalInterpreter,
    render_execution,
)


def require_e2b() -> None:
    """Skip, naming what is missing, unless the E2B SDK and a key are there."""
    try:
        import e2b_code_interpreter  # noqa: F401
    except ImportError:
        pytest.skip("e2b-code-interpreter is not installed: pip install 'langchain-tora[e2b]'")
    if not os.environ.get("E2B_API_KEY"):
        pytest.skip("E2B_API_KEY is not set: create a key at https://e2b.dev/dashboard")


@pytest.fixture(scope="module")
def e2b() -> Iterator[E2BInterpreter]:
    require_e2b()
    with E2BInterpreter(timeout=5.0, max_concurrency=4) as python:
        yield python


@pytest.fixture(scope="module")
def e2b_ipython() -> Iterator[E2BInterpreter]:
    require_e2b()
    with E2BInterpreter(timeout=5.0, mode="ipython") as python:
        yield python


@pytest.fixture(scope="module")
def local() -> Iterator[LocalInterpreter]:
    with LocalInterpreter(timeout=5.0, max_workers=2) as python:
        yield python


def _same_for_the_model(local_execution, remote_execution) -> None:
    for style in OUTPUT_STYLES:
        assert render_execution(remote_execution, style) == render_execution(
            local_execution, style
        ), style


BUILTIN_CASES = [
    "print(2 + 2)",
    "x = 1",
    "print('a')\nprint('b')",
    "print(x)",
    "1 / 0",
    "print('partial')\nraise ValueError('first\\nsecond')",
    "raise ZeroDivisionError",
    "raise KeyError('k')",
    "import sys\nsys.exit(3)",
    "print('x' * 100000)",
    "for i in range(2000):\n    print(i)",
    "while True:\n    pass",
]

EXEC_ONLY_CASES = [
    "import numpy as np\nnp.linalg.inv(np.zeros((2, 2)))",
    "from sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**2 - 4, x))",
    "print(__name__)",
    "class E(Exception):\n    pass\nraise E('boom')",
    "def f(:\n    pass",
]


@pytest.mark.parametrize("code", BUILTIN_CASES + EXEC_ONLY_CASES)
def test_exec_mode_matches_the_local_sandbox(code, e2b, local):
    _same_for_the_model(local.run(code), e2b.run(code))


@pytest.mark.parametrize("code", BUILTIN_CASES)
def test_ipython_mode_matches_the_local_sandbox_for_builtin_errors(code, e2b_ipython, local):
    _same_for_the_model(local.run(code), e2b_ipython.run(code))


def test_internet_is_off_by_default(e2b):
    code = (
        "import socket\n"
        "socket.create_connection(('1.1.1.1', 80), timeout=3).close()\n"
        "print('connected')"
    )
    execution = e2b.run(code)
    assert "connected" not in execution.stdout
    assert execution.error is not None or execution.timed_out


def test_stateless_session_rounds_do_not_share_names(e2b):
    first, second = e2b.run_batch(["x = 41", "print(x)"], sessions=["t", "t"])
    e2b.end_session("t")
    assert first.ok and second.error == "NameError: name 'x' is not defined"


def test_stateful_sessions():
    require_e2b()
    with E2BInterpreter(timeout=5.0, stateful=True) as python:
        assert python.run("x = 41", session="a").ok
        assert python.run("print(x + 1)", session="a").stdout == "42\n"
        assert python.run("print(x)", session="b").error == "NameError: name 'x' is not defined"
        python.end_session("a")
        assert python.run("print(x)", session="a").error == "NameError: name 'x' is not defined"


def test_timeout_then_the_session_goes_on(e2b):
    hung = e2b.run("while True:\n    pass", session="slow")
    assert hung.timed_out and render_execution(hung) == "Timeout Error"
    assert e2b.run("print('after')", session="slow").stdout == "after\n"
    e2b.end_session("slow")


def test_batch_runs_concurrently_in_order(e2b):
    codes = [f"import time\ntime.sleep(2)\nprint({i})" for i in range(4)]
    start = time.perf_counter()
    executions = e2b.run_batch(codes, sessions=[f"b{i}" for i in range(4)])
    elapsed = time.perf_counter() - start
    for i in range(4):
        e2b.end_session(f"b{i}")
    assert [e.stdout for e in executions] == [f"{i}\n" for i in range(4)]
    assert elapsed < 4 * 2  # not one after another


async def test_async(e2b):
    one, two = await asyncio.gather(e2b.arun("print(1)"), e2b.arun("print(2)"))
    batch = await e2b.arun_batch(["print(3)", "1 / 0"])
    assert (one.stdout, two.stdout) == ("1\n", "2\n")
    assert batch[0].stdout == "3\n" and batch[1].error == "ZeroDivisionError: division by zero"


def test_tora_chain_on_e2b_gives_the_local_trajectory(e2b, local):
    rounds = [
        "```python\nfrom sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**2 - 5*x + 6, x))\n```",
        "The roots sum to $\\boxed{5}$.",
    ]
    outs = [
        ToRAChain(llm=GenericFakeChatModel(messages=iter(rounds)), interpreter=python).invoke(
            "Sum of the roots of x^2 - 5x + 6?"
        )
        for python in (e2b, local)
    ]
    assert outs[0]["trajectory"] == outs[1]["trajectory"]
    assert outs[0]["answer"] == "5"


def test_close_kills_the_sandbox():
    require_e2b()
    from e2b_code_interpreter import Sandbox

    python = E2BInterpreter(timeout=5.0)
    assert python.run("print(1)").stdout == "1\n"
    sandbox_id = python.sandbox_id
    assert sandbox_id
    python.close()
    assert python.sandbox_id is None
    assert Sandbox.kill(sandbox_id) is False  # already gone
