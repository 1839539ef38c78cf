"""ToRAChain as a node of a LangGraph ``StateGraph``, with a checking node and retries.

``solve`` runs ToRA on the state's question; ``check`` accepts the result when the
model ended with a boxed answer (not by running out of tool calls) and otherwise
sends the graph back to ``solve``, up to ``max_attempts`` times.

.. code-block:: bash

    python examples/langgraph_node.py
    python examples/langgraph_node.py --model openai:gpt-4o-mini   # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TypedDict

from langchain_core.language_models import BaseLanguageModel, GenericFakeChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langchain_tora import ToRAChain
from langchain_tora.interpreters import LocalInterpreter

QUESTION = "What is the sum of the first 100 positive odd numbers?"

TORA_ROUNDS = [
    # first attempt: runs out of tool calls (max_tool_calls=2) without a boxed answer
    "Let me list them first.\n```python\nodds = list(range(1, 200, 2))\nprint(len(odds))\n```",
    "Now their sum.\n```python\nprint(sum(range(1, 200, 2)))\n```",
    # second attempt: computes and boxes the answer
    "The first 100 odd numbers are 1, 3, ..., 199.\n```python\nprint(sum(range(1, 200, 2)))\n```",
    "The sum is $\\boxed{10000}$.",
]


class SolveState(TypedDict, total=False):
    """The graph's state."""

    question: str
    answer: str | None
    trajectory: str
    stop_reason: str
    attempts: int
    accepted: bool


def build_graph(chain: ToRAChain, *, max_attempts: int = 2) -> Any:
    """START -> solve -> check -> (END | solve)."""

    def solve(state: SolveState, config: RunnableConfig) -> SolveState:
        out = chain.invoke(state["question"], config)
        return {
            "answer": out["answer"],
            "trajectory": out["trajectory"],
            "stop_reason": out["stop_reason"],
            "attempts": state.get("attempts", 0) + 1,
        }

    def check(state: SolveState) -> SolveState:
        return {"accepted": state["stop_reason"] == "answer" and bool(state.get("answer"))}

    def route(state: SolveState) -> str:
        if state["accepted"] or state["attempts"] >= max_attempts:
            return END
        return "solve"

    graph = StateGraph(SolveState)
    graph.add_node("solve", solve)
    graph.add_node("check", check)
    graph.add_edge(START, "solve")
    graph.add_edge("solve", "check")
    graph.add_conditional_edges("check", route, ["solve", END])
    return graph.compile()


def main(argv: Sequence[str] | None = None) -> SolveState:
    """Run the graph on the example question; returns (and prints) the final state."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fake", help="'fake' or a provider:model string")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    if args.model == "fake":
        llm: BaseLanguageModel = GenericFakeChatModel(messages=iter(TORA_ROUNDS))
    else:
        from langchain_tora.models import load_chat_model

        llm = load_chat_model(args.model, temperature=0)
    with LocalInterpreter(timeout=10) as python:
        graph = build_graph(ToRAChain(llm=llm, interpreter=python, max_tool_calls=2))
        state: SolveState = graph.invoke({"question": args.question})
    print(f"attempts: {state['attempts']}, accepted: {state['accepted']}")
    print("answer:", state["answer"])
    return state


if __name__ == "__main__":
    main()
