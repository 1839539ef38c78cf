"""ToRAChain as a tool of a LangChain agent (``langchain.agents.create_agent``).

The agent decides to call ``math_solver`` (``ToRAChain.as_tool()``); inside the tool,
ToRA alternates reasoning with python runs in the local sandbox until the answer is
boxed; the agent then answers with the tool's result.

Run offline with scripted models (the default), or with a real chat model:

.. code-block:: bash

    python examples/agent_math_solver.py
    python examples/agent_math_solver.py --model openai:gpt-4o-mini   # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_tora import ToRAChain
from langchain_tora.interpreters import LocalInterpreter

QUESTION = "A store sells pencils at 3 for $0.75. How much do 12 pencils cost, in dollars?"

TORA_ROUNDS = [
    "One pencil costs 0.75 / 3 dollars, so 12 pencils cost 12 times that.\n"
    "```python\nfrom fractions import Fraction\nprint(12 * Fraction(75, 100) / 3)\n```",
    "The 12 pencils cost $\\boxed{3}$ dollars.",
]
"""What the scripted ToRA model writes, round by round."""


class ScriptedToolCaller(GenericFakeChatModel):
    """A fake agent model: first the scripted tool call, then an answer quoting the tool.

    ``GenericFakeChatModel`` returns its scripted messages in turn; this subclass also
    accepts ``bind_tools`` (as ``create_agent`` requires) and, once a tool has
    answered, replies with that answer.
    """

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolCaller:  # type: ignore[override]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(f"The 12 pencils cost ${last.content}.")
            return ChatResult(generations=[ChatGeneration(message=reply)])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake_models(question: str = QUESTION) -> tuple[BaseChatModel, BaseChatModel]:
    """The scripted agent model and the scripted model inside ToRA."""
    call = {
        "name": "math_solver",
        "args": {"question": question},
        "id": "call_1",
        "type": "tool_call",
    }
    agent_model = ScriptedToolCaller(messages=iter([AIMessage("", tool_calls=[call])]))
    tora_model = GenericFakeChatModel(messages=iter(TORA_ROUNDS))
    return agent_model, tora_model


def build_agent(agent_model: BaseChatModel, tora_model: BaseChatModel, interpreter: Any) -> Any:
    """An agent whose only tool is ToRA (``math_solver``)."""
    solver = ToRAChain(llm=tora_model, interpreter=interpreter).as_tool()
    return create_agent(
        agent_model,
        tools=[solver],
        system_prompt="Use the math_solver tool for any calculation, then answer briefly.",
    )


def main(argv: Sequence[str] | None = None) -> str:
    """Run the agent on the example question; returns (and prints) its final answer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fake", help="'fake' or a provider:model string")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    if args.model == "fake":
        agent_model, tora_model = fake_models(args.question)
    else:
        from langchain_tora.models import load_chat_model

        agent_model = tora_model = load_chat_model(args.model, temperature=0)
    with LocalInterpreter(timeout=10) as python:
        agent = build_agent(agent_model, tora_model, python)
        state = agent.invoke({"messages": [HumanMessage(args.question)]})
    for message in state["messages"]:
        if isinstance(message, ToolMessage):
            print(f"[{message.name}] -> {message.content}")
    answer = state["messages"][-1].text
    print(answer)
    return answer


if __name__ == "__main__":
    main()
