"""``PythonInterpreterTool``: the standard LangChain tool suites, offline, and its own behaviour.

The unit suite (``ToolsUnitTests``) and, since the local sandbox needs no network,
the integration suite (``ToolsIntegrationTests``) run here against
:class:`LocalInterpreter`; the E2B run of the integration suite is in
``integration_tests/test_tools_integration.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_tora.interpreters import Execution, LocalInterpreter, render_execution
from langchain_tora.tools import PythonInterpreterInput, PythonInterpreterTool

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the local sandbox tests run on Linux"
)

_SHARED: dict[str, LocalInterpreter] = {}


@pytest.fixture(scope="module", autouse=True)
def _one_sandbox_for_the_module():
    """The standard suites build a tool per test: let them share one warm sandbox."""
    with LocalInterpreter(timeout=5.0, max_workers=2) as python:
        _SHARED["python"] = python
        yield
    _SHARED.clear()


class TestPythonInterpreterToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PythonInterpreterTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"interpreter": _SHARED["python"]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "print(6 * 7)"}


class TestPythonInterpreterToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PythonInterpreterTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"interpreter": _SHARED["python"]}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"code": "print(6 * 7)"}


class TestPythonInterpreterToolWithArtifactIntegration(TestPythonInterpreterToolIntegration):
    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"interpreter": _SHARED["python"], "response_format": "content_and_artifact"}


# --------------------------------------------------------------------------- behaviour


def _tool(**kwargs: Any) -> PythonInterpreterTool:
    return PythonInterpreterTool(interpreter=_SHARED["python"], **kwargs)


def test_schema_is_code_only():
    tool = _tool()
    assert tool.name == "python_interpreter"
    assert tool.args == {"code": PythonInterpreterInput.model_json_schema()["properties"]["code"]}
    assert tool.tool_call_schema.model_json_schema()["required"] == ["code"]


@pytest.mark.parametrize(
    "code",
    ["print(1)\nprint(2)", "x = 1", "print('so far')\n1 / 0", "print('a' * 300)"],
)
@pytest.mark.parametrize("style", ["2023-10", "2023-11"])
def test_content_is_what_the_model_would_see(code, style):
    python = _SHARED["python"]
    expected = render_execution(python.run(code), style)
    assert _tool(output_style=style).invoke({"code": code}) == expected


def test_default_style_shows_whole_output_and_error():
    assert _tool().invoke({"code": "print(1)\nprint(2)"}) == "1\n2"
    assert _tool().invoke({"code": "print('so far')\n1 / 0"}) == (
        "so far\nZeroDivisionError: division by zero"
    )
    assert _tool(output_style="2023-10").invoke({"code": "print(1)\nprint(2)"}) == "2"


def test_artifact_is_the_execution():
    tool = _tool(response_format="content_and_artifact")
    message = tool.invoke(
        {"name": tool.name, "args": {"code": "print(6 * 7)"}, "id": "call_1", "type": "tool_call"}
    )
    assert isinstance(message, ToolMessage)
    assert message.content == "42" and message.tool_call_id == "call_1"
    assert isinstance(message.artifact, Execution) and message.artifact.stdout == "42\n"


async def test_async_invoke():
    tool = _tool(response_format="content_and_artifact")
    message = await tool.ainvoke(
        {"name": tool.name, "args": {"code": "print(2 ** 10)"}, "id": "c", "type": "tool_call"}
    )
    assert message.content == "1024" and message.artifact.ok


def test_timeout_reads_timeout_error():
    with LocalInterpreter(timeout=0.5, max_workers=1) as quick:
        tool = PythonInterpreterTool(interpreter=quick)
        assert tool.invoke({"code": "while True: pass"}) == "Timeout Error"


def test_stateful_session_is_shared_by_calls():
    with LocalInterpreter(timeout=5.0, stateful=True, max_workers=1) as python:
        tool = PythonInterpreterTool(interpreter=python, session="agent-1")
        tool.invoke({"code": "total = 40"})
        assert tool.invoke({"code": "print(total + 2)"}) == "42"
        other = PythonInterpreterTool(interpreter=python, session="agent-2")
        assert other.invoke({"code": "print(total)"}) == "NameError: name 'total' is not defined"


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="output_style"):
        _tool(output_style="2024")
