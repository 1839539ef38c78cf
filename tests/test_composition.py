"""ToRA composed with the rest of LangChain, offline, with LangChain's fake chat models.

* ``ToRAChain.as_tool()`` as the tool of a ``langchain.agents.create_agent`` agent;
* a BM25 retriever in front of ToRA (LCEL), the facts reaching the model's prompt;
* ``ToRAChain`` as a node of a LangGraph ``StateGraph`` with a checking node;
* tracing: one chain run whose children are the model calls and the executions;
* the scripts in ``examples/`` run with their default fake models.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tracers.run_collector import RunCollectorCallbackHandler
from langgraph.graph import END, START, StateGraph
from pydantic import Field

from langchain_tora import ToRAChain
from langchain_tora.interpreters import render_execution

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses the local sandbox (Linux)"
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PENCILS = "A store sells pencils at 3 for $0.75. How much do 12 pencils cost, in dollars?"
PENCIL_ROUNDS = [
    "One pencil costs 0.75 / 3 dollars.\n```python\nprint(12 * 0.75 / 3)\n```",
    "The 12 pencils cost $\\boxed{3}$ dollars.",
]


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the examples are scripts, not a package)."""
    module_name = f"tora_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class ToolCallingFake(GenericFakeChatModel):
    """``GenericFakeChatModel`` that accepts ``bind_tools`` and answers with a tool's result.

    Its scripted messages come first (e.g. a tool call); once the last message is a
    ``ToolMessage`` it replies ``final.format(tool=<the tool's content>)``.
    """

    final: str = "The answer is {tool}."
    bound: list[list[str]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
        self.bound.append([getattr(t, "name", str(t)) for t in tools])
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            reply = AIMessage(self.final.format(tool=messages[-1].content))
            return ChatResult(generations=[ChatGeneration(message=reply)])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def _agent_model(tool: str, args: dict[str, Any], final: str) -> ToolCallingFake:
    call = {"name": tool, "args": args, "id": "call_1", "type": "tool_call"}
    return ToolCallingFake(messages=iter([AIMessage("", tool_calls=[call])]), final=final)


class PromptSpy(BaseCallbackHandler):
    """Keeps the messages of every chat model call."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.calls.append(list(messages[0]))


# --------------------------------------------------------------------------- agent


def test_tora_chain_is_a_tool_of_an_agent(interpreter):
    tora = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(PENCIL_ROUNDS)), interpreter=interpreter
    )
    agent_model = _agent_model("math_solver", {"question": PENCILS}, "The pencils cost ${tool}.")
    agent = create_agent(agent_model, tools=[tora.as_tool()])

    state = agent.invoke({"messages": [HumanMessage(PENCILS)]})

    asked, call, result, final = state["messages"]
    assert asked.text == PENCILS
    assert agent_model.bound and all(names == ["math_solver"] for names in agent_model.bound)
    assert call.tool_calls[0]["name"] == "math_solver"
    assert isinstance(result, ToolMessage) and result.name == "math_solver"
    assert result.content == "3"
    assert result.artifact["answer"] == "3"  # the whole ToRAOutput travels as the artifact
    assert result.artifact["steps"][0]["output"] == "3.0"
    assert "```output\n3.0\n```" in result.artifact["trajectory"]
    assert final.text == "The pencils cost $3."


async def test_tora_chain_tool_async_agent(interpreter):
    tora = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(PENCIL_ROUNDS)), interpreter=interpreter
    )
    agent = create_agent(
        _agent_model("math_solver", {"question": PENCILS}, "{tool}"), tools=[tora.as_tool()]
    )
    state = await agent.ainvoke({"messages": [HumanMessage(PENCILS)]})
    assert state["messages"][-1].text == "3"


# --------------------------------------------------------------------------- retrieval


def test_retrieved_facts_reach_the_model_through_question_template(interpreter):
    example = load_example("retrieval_context")
    model = GenericFakeChatModel(messages=iter(example.TORA_ROUNDS))
    spy = PromptSpy()

    out = example.build_chain(model, interpreter).invoke(example.QUESTION, {"callbacks": [spy]})

    facts = example.format_facts(
        example.FormulaSheetRetriever(documents=example.FORMULA_SHEET, k=2).invoke(example.QUESTION)
    )
    assert facts.startswith("- Circle: area A = pi * r**2")
    asked = spy.calls[0][-1]
    assert isinstance(asked, HumanMessage)
    assert asked.content == f"Useful facts:\n{facts}\n\nQuestion: {example.QUESTION}"
    assert out["answer"] == "154"
    assert out["steps"][0]["output"] == "154"
    # the later round still carries the facts (they are part of the question)
    assert any(m.content == asked.content for m in spy.calls[1])


def test_bm25_retriever_ranks_the_relevant_formula_first():
    example = load_example("retrieval_context")
    retriever = example.FormulaSheetRetriever(documents=example.FORMULA_SHEET, k=1)
    cases = {
        "Find the hypotenuse of a right triangle with legs 5 and 12.": "Right triangle",
        "A car travels 150 km in 2.5 hours. What is its average speed?": "Distance",
        "In how many ways can a committee of 3 be chosen from 10 people?": "Combinations",
        "What is $1000 worth after 3 years at 5% interest compounded yearly?": "Simple interest",
    }
    for question, start in cases.items():
        (top,) = retriever.invoke(question)
        assert top.page_content.startswith(start), question
    assert retriever.invoke("zebra xylophone") == []


# --------------------------------------------------------------------------- LangGraph


class SolveState(TypedDict, total=False):
    question: str
    answer: str | None
    stop_reason: str
    attempts: int
    accepted: bool


def _graph(chain: ToRAChain, max_attempts: int = 3) -> Any:
    def solve(state: SolveState, config: RunnableConfig) -> SolveState:
        out = chain.invoke(state["question"], config)
        return {
            "answer": out["answer"],
            "stop_reason": out["stop_reason"],
            "attempts": state.get("attempts", 0) + 1,
        }

    def check(state: SolveState) -> SolveState:
        return {"accepted": state["stop_reason"] == "answer"}

    def route(state: SolveState) -> str:
        return END if state["accepted"] or state["attempts"] >= max_attempts else "solve"

    graph = StateGraph(SolveState)
    graph.add_node("solve", solve)
    graph.add_node("check", check)
    graph.add_edge(START, "solve")
    graph.add_edge("solve", "check")
    graph.add_conditional_edges("check", route, ["solve", END])
    return graph.compile()


def test_tora_chain_as_a_langgraph_node_with_a_retry(interpreter):
    rounds = [
        "```python\nprint(sum(range(1, 200, 2)) // 100)\n```",  # attempt 1: out of tool calls
        "$\\boxed{10000}$",  # attempt 2: answers at once
    ]
    chain = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(rounds)), interpreter=interpreter, max_tool_calls=1
    )
    collector = RunCollectorCallbackHandler()

    state = _graph(chain).invoke(
        {"question": "Sum of the first 100 odd numbers?"}, {"callbacks": [collector]}
    )

    assert state == {
        "question": "Sum of the first 100 odd numbers?",
        "answer": "10000",
        "stop_reason": "answer",
        "attempts": 2,
        "accepted": True,
    }
    (graph_run,) = collector.traced_runs
    solve_runs = [r for r in graph_run.child_runs if r.name == "solve"]
    assert len(solve_runs) == 2
    for run in solve_runs:  # each ToRA run is nested in its node's run
        (tora_run,) = [c for c in run.child_runs if c.name == "ToRAChain"]
        assert tora_run.parent_run_id == run.id


def test_langgraph_example_runs(interpreter):
    example = load_example("langgraph_node")
    chain = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(example.TORA_ROUNDS)),
        interpreter=interpreter,
        max_tool_calls=2,
    )
    state = example.build_graph(chain).invoke({"question": example.QUESTION})
    assert state["attempts"] == 2 and state["accepted"] and state["answer"] == "10000"


# --------------------------------------------------------------------------- tracing


SOLVE_ROUNDS = [
    "```python\nfrom sympy import symbols, solve\nx = symbols('x')\nprint(solve(x**2 - 5*x + 6, x))\n```",
    "```python\nprint(2 + 3)\n```",
    "The sum is $\\boxed{5}$.",
]


def test_one_chain_run_with_a_child_per_model_call_and_execution(interpreter):
    collector = RunCollectorCallbackHandler()
    chain = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(SOLVE_ROUNDS)), interpreter=interpreter
    )

    out = chain.invoke("Sum of the roots of x^2 - 5x + 6?", {"callbacks": [collector]})

    (root,) = collector.traced_runs
    assert (root.name, root.run_type, root.parent_run_id) == ("ToRAChain", "chain", None)
    assert root.outputs["answer"] == "5" == out["answer"]
    kinds = [(child.run_type, child.name) for child in root.child_runs]
    assert kinds == [
        ("llm", "GenericFakeChatModel"),
        ("tool", "python_interpreter"),
        ("llm", "GenericFakeChatModel"),
        ("tool", "python_interpreter"),
        ("llm", "GenericFakeChatModel"),
    ]
    assert all(child.parent_run_id == root.id for child in root.child_runs)
    tools = [c for c in root.child_runs if c.run_type == "tool"]
    assert [t.inputs["code"] for t in tools] == [s["code"] for s in out["steps"][:2]]
    assert [t.outputs["output"] for t in tools] == ["[2, 3]", "5"]
    assert tools[0].outputs["output"] == render_execution(
        interpreter.run(out["steps"][0]["code"]), chain.output_style
    )


def test_tracing_through_an_agent_nests_tora_under_its_tool_run(interpreter):
    tora = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(PENCIL_ROUNDS)), interpreter=interpreter
    )
    agent = create_agent(
        _agent_model("math_solver", {"question": PENCILS}, "{tool}"), tools=[tora.as_tool()]
    )
    collector = RunCollectorCallbackHandler()
    agent.invoke({"messages": [HumanMessage(PENCILS)]}, {"callbacks": [collector]})

    def walk(run: Any) -> list[Any]:
        return [run, *(r for child in run.child_runs for r in walk(child))]

    (root,) = collector.traced_runs
    runs = walk(root)
    (solver,) = [r for r in runs if r.run_type == "tool" and r.name == "math_solver"]
    (tora_run,) = [r for r in runs if r.name == "ToRAChain"]
    assert tora_run.parent_run_id == solver.id
    inner = [(c.run_type, c.name) for c in tora_run.child_runs]
    assert inner == [
        ("llm", "GenericFakeChatModel"),
        ("tool", "python_interpreter"),
        ("llm", "GenericFakeChatModel"),
    ]


def test_tracing_example_handler_sees_parent_ids(interpreter):
    example = load_example("tracing_runs")
    handler = example.RunTreeHandler()
    chain = ToRAChain(
        llm=GenericFakeChatModel(messages=iter(example.TORA_ROUNDS)), interpreter=interpreter
    )
    chain.invoke(example.QUESTION, {"callbacks": [handler]})
    (root,) = handler.roots()
    assert (root.kind, root.name, root.parent_run_id) == ("chain", "ToRAChain", None)
    assert [(c.kind, c.output) for c in root.children] == [
        ("model", None),
        ("tool", "[2, 3]"),
        ("model", None),
        ("tool", "5"),
        ("model", None),
    ]
    assert "tool: python_interpreter -> '5'" in example.render_tree([root])


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("agent_math_solver", lambda result: result == "The 12 pencils cost $3."),
        ("retrieval_context", lambda result: result == "154"),
        ("langgraph_node", lambda result: result["answer"] == "10000"),
        ("tracing_runs", lambda result: len(result.roots()) == 1),
        ("python_tool_agent", lambda result: result == "The roots are [1, 2, 3]."),
    ],
)
def test_examples_run_offline_with_fake_models(name, check, capsys):
    result = load_example(name).main([])
    assert check(result)
    assert capsys.readouterr().out.strip()
