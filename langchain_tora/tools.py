"""LangChain tools over the interpreters: :class:`PythonInterpreterTool`.

The tool runs a snippet in any :class:`~langchain_tora.interpreters.BaseInterpreter`
(the local sandbox, E2B) and returns what a ToRA model sees of the run
(:func:`~langchain_tora.interpreters.render_execution`), so an agent built on any
chat model gets the same observations as :class:`~langchain_tora.ToRAChain`.

Example:
    >>> from langchain_tora.tools import PythonInterpreterTool
    >>> tool = PythonInterpreterTool()  # doctest: +SKIP
    >>> tool.invoke({"code": "print(6 * 7)"})  # doctest: +SKIP
    '42'
"""

from __future__ import annotations

from typing import Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import ArgsSchema, BaseTool
from pydantic import BaseModel, ConfigDict, Field

from langchain_tora.interpreters import (
    BaseInterpreter,
    Execution,
    LocalInterpreter,
    OutputStyle,
    render_execution,
)

DEFAULT_DESCRIPTION = (
    "Runs Python code in a sandbox and returns what it printed (on an error, the last "
    "line of the traceback). Use it for exact arithmetic, algebra (sympy) and numerics "
    "(numpy); print() every value you want to see, the value of a last expression is "
    "not shown. The sandbox has no internet access."
)


class PythonInterpreterInput(BaseModel):
    """Arguments of :class:`PythonInterpreterTool`."""

    code: str = Field(
        description="Python source to run. print() the values you need: only printed output is returned."
    )


class PythonInterpreterTool(BaseTool):
    """Run Python in a sandboxed interpreter and see what a ToRA model would see.

    Wraps any :class:`~langchain_tora.interpreters.BaseInterpreter`.  The content is
    the rendered execution (``output_style``: ``"2023-11"``, the whole stdout and the
    error line, by default; ``"2023-10"``, the last line only, as the released ToRA
    outputs); with ``response_format="content_and_artifact"`` the
    :class:`~langchain_tora.interpreters.Execution` comes along as the artifact.

    Setup:
        .. code-block:: bash

            pip install langchain-tora            # local sandbox
            pip install "langchain-tora[e2b]"     # E2B sandbox (and set E2B_API_KEY)

    Instantiate:
        .. code-block:: python

            from langchain_tora.interpreters import LocalInterpreter
            from langchain_tora.tools import PythonInterpreterTool

            python = LocalInterpreter(timeout=5)
            tool = PythonInterpreterTool(interpreter=python)
            # tool = PythonInterpreterTool(interpreter=E2BInterpreter())
            # tool = PythonInterpreterTool(interpreter=python, output_style="2023-10",
            #                              response_format="content_and_artifact")

    Invoke:
        .. code-block:: python

            tool.invoke({"code": "from sympy import *\\nx = symbols('x')\\nprint(solve(x**2 - 4, x))"})
            # '[-2, 2]'
            tool.invoke({"code": "1 / 0"})
            # 'ZeroDivisionError: division by zero'

            # as a tool call (e.g. from an agent): a ToolMessage
            tool.invoke({"name": "python_interpreter", "args": {"code": "print(1)"},
                         "id": "call_1", "type": "tool_call"})

            # with agents
            from langchain.agents import create_agent
            agent = create_agent("openai:gpt-4o-mini", tools=[tool])

    Async:
        .. code-block:: python

            await tool.ainvoke({"code": "print(6 * 7)"})   # '42'

    The tool does not own the interpreter: close it yourself (``python.close()``).
    With a stateful interpreter, every call of the tool shares the namespace of
    ``session`` (end it with ``python.end_session(tool.session)``).
    """

    name: str = "python_interpreter"
    description: str = DEFAULT_DESCRIPTION
    args_schema: ArgsSchema | None = PythonInterpreterInput
    interpreter: BaseInterpreter = Field(default_factory=LocalInterpreter, exclude=True)
    """Where the code runs (default: a new local sandbox)."""
    output_style: OutputStyle = "2023-11"
    """How an execution is rendered (see :func:`~langchain_tora.interpreters.render_execution`)."""
    session: str | None = None
    """With a stateful interpreter, the session whose namespace the calls share."""
    response_format: Literal["content", "content_and_artifact"] = "content"
    """``"content_and_artifact"`` returns the :class:`Execution` as the ToolMessage's artifact."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _reply(self, execution: Execution) -> str | tuple[str, Execution]:
        content = render_execution(execution, self.output_style)
        if self.response_format == "content_and_artifact":
            return content, execution
        return content

    def _run(
        self, code: str, run_manager: CallbackManagerForToolRun | None = None
    ) -> str | tuple[str, Execution]:
        """Run ``code`` and render what the model sees."""
        return self._reply(self.interpreter.run(code, session=self.session))

    async def _arun(
        self, code: str, run_manager: AsyncCallbackManagerForToolRun | None = None
    ) -> str | tuple[str, Execution]:
        """Async twin of :meth:`_run`."""
        return self._reply(await self.interpreter.arun(code, session=self.session))


__all__ = ["DEFAULT_DESCRIPTION", "PythonInterpreterInput", "PythonInterpreterTool"]
