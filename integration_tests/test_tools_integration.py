"""The standard LangChain tool integration suite for ``PythonInterpreterTool`` on E2B.

The same suite runs offline against the local sandbox in ``tests/test_tools.py``.

    E2B_API_KEY=e2b_... python -m pytest integration_tests/test_tools_integration.py -rs
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests

from langchain_tora.interpreters import E2BInterpreter
from langchain_tora.tools import PythonInterpreterTool


def _missing() -> str | None:
    if importlib.util.find_spec("e2b_code_interpreter") is None:
        return "e2b-code-interpreter is not installed: pip install 'langchain-tora[e2b]'"
    if not os.environ.get("E2B_API_KEY"):
        return "E2B_API_KEY is not set: create a key at https://e2b.dev/dashboard"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

_SHARED: dict[str, E2BInterpreter] = {}


@pytest.fixture(scope="module", autouse=True)
def _one_sandbox_for_the_module() -> Iterator[None]:
    with E2BInterpreter(timeout=10.0) as python:
        _SHARED["python"] = python
        yield
    _SHARED.clear()


class TestPythonInterpreterToolOnE2B(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PythonInterpreterTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"interpreter": _SHARED["python"]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "print(6 * 7)"}


class TestPythonInterpreterToolOnE2BWithArtifact(TestPythonInterpreterToolOnE2B):
    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"interpreter": _SHARED["python"], "response_format": "content_and_artifact"}


def test_tool_content_on_e2b() -> None:
    tool = PythonInterpreterTool(interpreter=_SHARED["python"])
    assert tool.invoke({"code": "print(6 * 7)"}) == "42"
    assert tool.invoke({"code": "print('so far')\n1 / 0"}) == (
        "so far\nZeroDivisionError: division by zero"
    )
