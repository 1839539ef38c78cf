"""The ToRA loop with scripted models: both model kinds, batch, stream, async, limits."""

from __future__ import annotations

import asyncio
import operator
from functools import reduce
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListChatModel, FakeListLLM
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_tora import EmptyGenerationError, ToRAChain
from langchain_tora.trajectory import MAX_CALLS_NOTE
from tests.conftest import RoundsChatModel, RoundsLLM

OLIVIA = "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?"
OLIVIA_ROUNDS = [
    "She spends 5 * 3 dollars.\n```python\nspent = 5 * 3\nprint(23 - spent)\n```",
    "She has $\\boxed{8}$ dollars left.",
]
OLIVIA_TRAJECTORY = (
    "She spends 5 * 3 dollars.\n```python\nspent = 5 * 3\nprint(23 - spent)\n```"
    "\n```output\n8\n```\nShe has $\\boxed{8}$ dollars left."
)


def test_invoke_completion_llm(interpreter):
    chain = ToRAChain(llm=FakeListLLM(responses=OLIVIA_ROUNDS), interpreter=interpreter)
    out = chain.invoke(OLIVIA)
    assert out["answer"] == "8"
    assert out["trajectory"] == OLIVIA_TRAJECTORY
    assert out["tool_calls"] == 1
    assert out["stop_reason"] == "answer"
    assert [s["output"] for s in out["steps"]] == ["8", None]
    assert out["steps"][0]["code"] == "spent = 5 * 3\nprint(23 - spent)\n"
    assert out["steps"][0]["execution"]["stdout"] == "8\n"
    assert out["usage"]["model_calls"] == 2
    assert out["usage"]["interpreter_seconds"] > 0


def test_prompt_is_released_format_plus_trajectory(interpreter):
    llm = RoundsLLM(script={OLIVIA: OLIVIA_ROUNDS})
    ToRAChain(llm=llm, interpreter=interpreter).invoke(OLIVIA)
    first, second = llm.calls
    assert first == [f"<|user|>\n{OLIVIA}\n<|assistant|>\n"]
    assert second == [first[0] + OLIVIA_TRAJECTORY.split("She has")[0]]
    assert llm.kwargs_seen[0]["stop"] == ["```output", "</s>"]


def test_model_that_ignores_stop_is_cut_after_first_closed_block(interpreter):
    chatty = (
        OLIVIA_ROUNDS[0]
        + "\n```output\n999\n```\nSo the answer is $\\boxed{999}$.\n```python\nprint(1)\n```"
    )
    chain = ToRAChain(
        llm=FakeListLLM(responses=[chatty, OLIVIA_ROUNDS[1]]), interpreter=interpreter
    )
    out = chain.invoke(OLIVIA)
    assert out["trajectory"] == OLIVIA_TRAJECTORY
    assert out["answer"] == "8"


def test_chat_model_sees_outputs_as_user_messages(interpreter):
    model = RoundsChatModel(
        script={OLIVIA: OLIVIA_ROUNDS}, usage={"input_tokens": 10, "output_tokens": 5}
    )
    out = ToRAChain(llm=model, interpreter=interpreter, prompt="tora").invoke(OLIVIA)
    assert out["answer"] == "8"
    assert out["trajectory"] == OLIVIA_TRAJECTORY
    second = model.calls[1]
    assert [m.type for m in second] == ["human", "ai", "human"]
    assert second[2].content == "```output\n8\n```"
    assert out["usage"]["input_tokens"] == 20 and out["usage"]["output_tokens"] == 10


def test_chat_format_has_system_prompt_and_few_shots(interpreter):
    model = FakeListChatModel(responses=OLIVIA_ROUNDS)
    seen: list[list[Any]] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, **kwargs):
            seen.append(messages[0])

    out = ToRAChain(llm=model, interpreter=interpreter).invoke(OLIVIA, {"callbacks": [Spy()]})
    assert out["answer"] == "8"
    first = seen[0]
    assert isinstance(first[0], SystemMessage)
    assert isinstance(first[-1], HumanMessage) and first[-1].content == OLIVIA
    assert len(first) > 4  # few-shot examples precede the question
    assert seen[1][-1].content == "```output\n8\n```"


def test_max_tool_calls_appends_the_released_note(interpreter):
    loop = ["```python\nprint(1)\n```"]
    llm = RoundsLLM(script={"q": loop})
    out = ToRAChain(llm=llm, interpreter=interpreter).invoke("q")
    assert out["tool_calls"] == 4
    assert len(llm.calls) == 4
    assert out["stop_reason"] == "max_tool_calls"
    assert out["trajectory"].endswith("```output\n1\n```\n" + MAX_CALLS_NOTE)
    out2 = ToRAChain(
        llm=RoundsLLM(script={"q": loop}), interpreter=interpreter, max_tool_calls=1
    ).invoke("q")
    assert out2["tool_calls"] == 1 and out2["stop_reason"] == "max_tool_calls"


def test_boxed_round_does_not_execute(interpreter):
    text = "The answer is $\\boxed{3}$.\n```python\nprint(2)\n```"
    out = ToRAChain(llm=FakeListLLM(responses=[text]), interpreter=interpreter).invoke("q")
    assert out["tool_calls"] == 0 and out["answer"] == "3"


def test_batch_is_round_synchronous(interpreter):
    script = {
        "a": ["```python\nprint(1)\n```", "```python\nprint(2)\n```", "$\\boxed{2}$"],
        "b": ["```python\nprint(3)\n```", "$\\boxed{3}$"],
        "c": ["$\\boxed{4}$"],
    }
    llm = RoundsLLM(script=script)
    outs = ToRAChain(llm=llm, interpreter=interpreter).batch(["a", "b", "c"])
    assert [o["answer"] for o in outs] == ["2", "3", "4"]
    assert [len(c) for c in llm.calls] == [3, 2, 1]  # one batched call per round


def test_batch_keeps_going_when_one_model_call_fails(interpreter):
    script = {
        "good": ["$\\boxed{1}$"],
        "bad": RuntimeError("model server down"),
        "also": ["$\\boxed{2}$"],
    }
    chain = ToRAChain(llm=RoundsLLM(script=script), interpreter=interpreter)
    outs = chain.batch(["good", "bad", "also"], return_exceptions=True)
    assert outs[0]["answer"] == "1" and outs[2]["answer"] == "2"
    assert isinstance(outs[1], RuntimeError)
    with pytest.raises(RuntimeError, match="model server down"):
        chain.batch(["good", "bad"])
    chat = ToRAChain(llm=RoundsChatModel(script=script), interpreter=interpreter, prompt="tora")
    outs = chat.batch(["good", "bad", "also"], return_exceptions=True)
    assert isinstance(outs[1], RuntimeError) and outs[2]["answer"] == "2"


def test_bad_input_gets_clear_errors(interpreter):
    chain = ToRAChain(llm=FakeListLLM(responses=["x"]), interpreter=interpreter)
    with pytest.raises(ValueError, match="empty"):
        chain.invoke("   ")
    with pytest.raises(TypeError, match="question string"):
        chain.invoke(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'question' key"):
        chain.invoke({"problem": "1+1"})  # type: ignore[typeddict-item]
    with pytest.raises(TypeError, match="must be a string"):
        chain.invoke({"question": 3})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="unknown prompt format"):
        ToRAChain(llm=FakeListLLM(responses=["x"]), prompt="socratic")
    outs = chain.batch(["", "fine"], return_exceptions=True)
    assert isinstance(outs[0], ValueError) and outs[1]["trajectory"] == "x"


def test_model_that_returns_nothing(interpreter):
    chain = ToRAChain(llm=FakeListLLM(responses=["  \n"]), interpreter=interpreter)
    with pytest.raises(EmptyGenerationError, match="returned no text"):
        chain.invoke("q")
    later = ToRAChain(
        llm=FakeListLLM(responses=["```python\nprint(1)\n```", ""]), interpreter=interpreter
    )
    out = later.invoke("q")
    assert out["stop_reason"] == "empty_generation" and out["tool_calls"] == 1


def test_stream_chunks_add_up_to_invoke(interpreter):
    chain = ToRAChain(llm=RoundsLLM(script={OLIVIA: OLIVIA_ROUNDS}), interpreter=interpreter)
    chunks = list(chain.stream(OLIVIA))
    assert [list(c) for c in chunks] == [
        ["steps"],
        ["steps"],
        ["answer", "trajectory", "tool_calls", "stop_reason", "usage"],
    ]
    merged = reduce(operator.add, chunks)
    expected = chain.invoke(OLIVIA)
    for out in (merged, expected):
        out["usage"] = None
        for step in out["steps"]:
            if step["execution"]:
                step["execution"]["duration"] = None
    assert dict(merged) == dict(expected)


def test_async_twins(interpreter):
    script = {OLIVIA: OLIVIA_ROUNDS, "c": ["$\\boxed{4}$"]}

    async def main():
        chain = ToRAChain(llm=RoundsLLM(script=script), interpreter=interpreter)
        one = await chain.ainvoke(OLIVIA)
        many = await chain.abatch([OLIVIA, "c"])
        chunks = [c async for c in chain.astream(OLIVIA)]
        chat = ToRAChain(llm=RoundsChatModel(script=script), interpreter=interpreter, prompt="tora")
        chat_one = await chat.ainvoke(OLIVIA)
        return one, many, chunks, chat_one

    one, many, chunks, chat_one = asyncio.run(main())
    assert one["trajectory"] == OLIVIA_TRAJECTORY
    assert [o["answer"] for o in many] == ["8", "4"]
    assert reduce(operator.add, chunks)["answer"] == "8"
    assert chat_one["answer"] == "8"


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, UUID, UUID | None]] = []

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kw):
        self.events.append(("chain", run_id, parent_run_id))

    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, **kw):
        self.events.append(("llm", run_id, parent_run_id))

    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, **kw):
        self.events.append(("tool", run_id, parent_run_id))


def test_model_calls_and_executions_are_child_runs(interpreter):
    recorder = _Recorder()
    chain = ToRAChain(llm=RoundsLLM(script={OLIVIA: OLIVIA_ROUNDS}), interpreter=interpreter)
    chain.invoke(OLIVIA, {"callbacks": [recorder]})
    chains = [e for e in recorder.events if e[0] == "chain"]
    assert len(chains) == 1
    root = chains[0][1]
    kinds = [(kind, parent == root) for kind, _, parent in recorder.events if kind != "chain"]
    assert kinds == [("llm", True), ("tool", True), ("llm", True)]


def test_batch_runs_are_separate_per_problem(interpreter):
    recorder = _Recorder()
    script = {"a": ["```python\nprint(1)\n```", "$\\boxed{1}$"], "b": ["$\\boxed{2}$"]}
    ToRAChain(llm=RoundsLLM(script=script), interpreter=interpreter).batch(
        ["a", "b"], {"callbacks": [recorder]}
    )
    roots = {run for kind, run, _ in recorder.events if kind == "chain"}
    assert len(roots) == 2
    assert all(parent in roots for kind, _, parent in recorder.events if kind != "chain")


def test_as_tool(interpreter):
    chain = ToRAChain(llm=RoundsLLM(script={OLIVIA: OLIVIA_ROUNDS}), interpreter=interpreter)
    tool = chain.as_tool()
    assert tool.name == "math_solver"
    assert tool.invoke({"question": OLIVIA}) == "8"
    msg = tool.invoke(
        {"type": "tool_call", "id": "1", "name": "math_solver", "args": {"question": OLIVIA}}
    )
    assert msg.content == "8" and msg.artifact["tool_calls"] == 1


def test_pal_and_cot_formats(interpreter):
    pal = "```python\ndef solution():\n    return 23 - 5 * 3\n```"
    out = ToRAChain(llm=FakeListLLM(responses=[pal]), interpreter=interpreter, prompt="pal").invoke(
        OLIVIA
    )
    assert out["answer"] == "8" and out["tool_calls"] == 1 and out["stop_reason"] == "answer"
    assert out["trajectory"].endswith("```output\n\\boxed{8}\n```\n")
    cot = "Five bagels cost 15 dollars, and 23 - 15 = 8. The answer is $\\boxed{8}$."
    llm = RoundsLLM(script={})
    out = ToRAChain(llm=FakeListLLM(responses=[cot]), interpreter=interpreter, prompt="cot").invoke(
        OLIVIA
    )
    assert out["answer"] == "8" and out["tool_calls"] == 0
    assert llm.calls == []


def test_question_template_passes_extra_keys(interpreter):
    llm = RoundsLLM(script={"Facts: 1 dozen = 12\nQ: How many in 2 dozen?": ["$\\boxed{24}$"]})
    chain = ToRAChain(
        llm=llm, interpreter=interpreter, question_template="Facts: {context}\nQ: {question}"
    )
    out = chain.invoke({"question": "How many in 2 dozen?", "context": "1 dozen = 12"})
    assert out["answer"] == "24"
    with pytest.raises(ValueError, match="question_template needs 'context'"):
        chain.invoke({"question": "How many?"})


def test_max_tokens_per_round_reaches_models_that_have_the_setting(interpreter):
    class WithMax(RoundsLLM):
        max_tokens: int = 10

    llm = WithMax(script={"q": ["$\\boxed{1}$"]})
    ToRAChain(llm=llm, interpreter=interpreter, max_tokens_per_round=77).invoke("q")
    assert llm.kwargs_seen[0]["max_tokens"] == 77
    plain = RoundsLLM(script={"q": ["$\\boxed{1}$"]})
    ToRAChain(llm=plain, interpreter=interpreter).invoke("q")
    assert "max_tokens" not in plain.kwargs_seen[0]


def test_stateful_interpreter_keeps_names_across_rounds():
    from langchain_tora.interpreters import LocalInterpreter

    script = {
        "q": ["```python\nx = 41\nprint(x)\n```", "```python\nprint(x + 1)\n```", "$\\boxed{42}$"]
    }
    with LocalInterpreter(stateful=True) as python:
        out = ToRAChain(llm=RoundsLLM(script=script), interpreter=python).invoke("q")
    assert [s["output"] for s in out["steps"]] == ["41", "42", None]
