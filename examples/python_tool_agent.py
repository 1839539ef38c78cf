"""A plain tool-calling agent with ToRA's sandbox as its python tool.

``PythonInterpreterTool`` wraps an interpreter (the local sandbox, or E2B with
``--interpreter e2b``) as a LangChain tool that returns what a ToRA model would see.

.. code-block:: bash

    python examples/python_tool_agent.py
    python examples/python_tool_agent.py --interpreter e2b                 # needs E2B_API_KEY
    python examples/python_tool_agent.py --model openai:gpt-4o-mini       # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_tora.interpreters import BaseInterpreter, E2BInterpreter, LocalInterpreter
from langchain_tora.tools import PythonInterpreterTool

QUESTION = "What are the real roots of x**3 - 6*x**2 + 11*x - 6?"

CODE = (
    "from sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**3 - 6*x**2 + 11*x - 6, x))"
)


class ScriptedToolCaller(GenericFakeChatModel):
    """A fake agent model: the scripted tool call, then an answer quoting the tool's output."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolCaller:  # type: ignore[override]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            reply = AIMessage(f"The roots are {messages[-1].content}.")
            return ChatResult(generations=[ChatGeneration(message=reply)])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def make_interpreter(kind: str) -> BaseInterpreter:
    """``local`` (offline) or ``e2b`` (needs E2B_API_KEY)."""
    return E2BInterpreter(timeout=10) if kind == "e2b" else LocalInterpreter(timeout=10)


def main(argv: Sequence[str] | None = None) -> str:
    """Run the agent once; returns (and prints) its final answer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fake", help="'fake' or a provider:model string")
    parser.add_argument("--interpreter", choices=["local", "e2b"], default="local")
    args = parser.parse_args(argv)
    if args.model == "fake":
        call = {
            "name": "python_interpreter",
            "args": {"code": CODE},
            "id": "call_1",
            "type": "tool_call",
        }
        model: BaseChatModel = ScriptedToolCaller(messages=iter([AIMessage("", tool_calls=[call])]))
    else:
        from langchain_tora.models import load_chat_model

        model = load_chat_model(args.model, temperature=0)
    with make_interpreter(args.interpreter) as python:
        tool = PythonInterpreterTool(interpreter=python, response_format="content_and_artifact")
        agent = create_agent(model, tools=[tool], system_prompt="Use python for every calculation.")
        state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    for message in state["messages"]:
        if isinstance(message, ToolMessage):
            print(f"[{message.name}] -> {message.content!r} ({message.artifact!r})")
    answer = state["messages"][-1].text
    print(answer)
    return answer


if __name__ == "__main__":
    main()
