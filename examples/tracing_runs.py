"""Tracing ToRA: one chain run, with a child run per model call and per execution.

A callback handler records every run the chain starts and prints the tree: the
``ToRAChain`` run, its model calls (LLM runs) and its executions (tool runs named
``python_interpreter``, whose output is what the model was shown).  The same runs
reach LangSmith or any other tracer.

.. code-block:: bash

    python examples/tracing_runs.py
    python examples/tracing_runs.py --model openai:gpt-4o-mini   # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseLanguageModel, GenericFakeChatModel

from langchain_tora import ToRAChain
from langchain_tora.interpreters import LocalInterpreter

QUESTION = "Solve x**2 - 5*x + 6 = 0 and give the sum of the solutions."

TORA_ROUNDS = [
    "Solve the equation with sympy.\n```python\nfrom sympy import symbols, solve\n"
    "x = symbols('x')\nprint(solve(x**2 - 5*x + 6, x))\n```",
    "The roots are 2 and 3; check their sum.\n```python\nprint(2 + 3)\n```",
    "The sum of the solutions is $\\boxed{5}$.",
]


@dataclass
class RunRecord:
    """One run seen by :class:`RunTreeHandler`."""

    kind: str
    name: str
    run_id: UUID
    parent_run_id: UUID | None
    output: str | None = None
    children: list[RunRecord] = field(default_factory=list)


def _run_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    serialized = serialized or {}
    ids = serialized.get("id") or [default]
    return kwargs.get("name") or serialized.get("name") or ids[-1]


class RunTreeHandler(BaseCallbackHandler):
    """Records chain, model and tool runs with their parents."""

    def __init__(self) -> None:
        self.runs: dict[UUID, RunRecord] = {}

    def _add(self, kind: str, name: str, run_id: UUID, parent_run_id: UUID | None) -> None:
        self.runs[run_id] = RunRecord(kind, name, run_id, parent_run_id)

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add(
            "chain", _run_name(serialized, kwargs, "chain"), run_id, kwargs.get("parent_run_id")
        )

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        name = _run_name(serialized, kwargs, "chat_model")
        self._add("model", name, run_id, kwargs.get("parent_run_id"))

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add(
            "model", _run_name(serialized, kwargs, "llm"), run_id, kwargs.get("parent_run_id")
        )

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._add(
            "tool", _run_name(serialized, kwargs, "tool"), run_id, kwargs.get("parent_run_id")
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id in self.runs:
            self.runs[run_id].output = str(getattr(output, "content", output))

    def roots(self) -> list[RunRecord]:
        """The runs without a recorded parent, with their ``children`` filled in."""
        for record in self.runs.values():
            record.children = [r for r in self.runs.values() if r.parent_run_id == record.run_id]
        return [r for r in self.runs.values() if r.parent_run_id not in self.runs]


def render_tree(records: list[RunRecord], indent: str = "") -> str:
    """The run tree as indented text."""
    lines = []
    for record in records:
        output = f" -> {record.output!r}" if record.output is not None else ""
        lines.append(f"{indent}{record.kind}: {record.name}{output}")
        lines.append(render_tree(record.children, indent + "  "))
    return "\n".join(line for line in lines if line)


def main(argv: Sequence[str] | None = None) -> RunTreeHandler:
    """Solve the example with the handler attached; prints and returns the handler."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fake", help="'fake' or a provider:model string")
    args = parser.parse_args(argv)
    if args.model == "fake":
        llm: BaseLanguageModel = GenericFakeChatModel(messages=iter(TORA_ROUNDS))
    else:
        from langchain_tora.models import load_chat_model

        llm = load_chat_model(args.model, temperature=0)
    handler = RunTreeHandler()
    with LocalInterpreter(timeout=10) as python:
        out = ToRAChain(llm=llm, interpreter=python).invoke(QUESTION, {"callbacks": [handler]})
    print(render_tree(handler.roots()))
    print("answer:", out["answer"])
    return handler


if __name__ == "__main__":
    main()
