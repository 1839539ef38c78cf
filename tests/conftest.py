"""Shared fixtures: scripted models that answer by question and round, and the data dir."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult, Generation, LLMResult
from pydantic import Field

from langchain_tora.datasets import data_dir
from langchain_tora.interpreters import LocalInterpreter
from langchain_tora.trajectory import OUTPUT_FENCE, split_tora_prompt


class RoundsLLM(BaseLLM):
    """A completion model scripted per question: round k of a question returns script[q][k].

    Records the prompts of every ``_generate`` call, so tests can check batching.  A
    question mapped to an exception instance raises it.
    """

    script: dict[str, Any]
    calls: list[list[str]] = Field(default_factory=list)
    kwargs_seen: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "rounds-fake"

    def _reply(self, prompt: str) -> str:
        question, so_far = split_tora_prompt(prompt)
        replies = self.script[question]
        if isinstance(replies, BaseException):
            raise replies
        k = so_far.count(OUTPUT_FENCE)
        return replies[k] if k < len(replies) else replies[-1]

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        self.calls.append(list(prompts))
        self.kwargs_seen.append({"stop": stop, **kwargs})
        return LLMResult(generations=[[Generation(text=self._reply(p))] for p in prompts])


class RoundsChatModel(BaseChatModel):
    """A chat model scripted per question (the first human message) and round."""

    script: dict[str, Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    usage: dict[str, int] | None = None

    @property
    def _llm_type(self) -> str:
        return "rounds-chat-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        question = next(m.text for m in humans if not m.text.startswith(OUTPUT_FENCE))
        replies = self.script[question]
        if isinstance(replies, BaseException):
            raise replies
        k = sum(isinstance(m, AIMessage) for m in messages)
        text = replies[k] if k < len(replies) else replies[-1]
        message = AIMessage(
            text,
            usage_metadata=self.usage and {**self.usage, "total_tokens": sum(self.usage.values())},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


@pytest.fixture(scope="session")
def interpreter():
    """One warm sandbox for the whole session (stateless: runs never see each other)."""
    with LocalInterpreter(timeout=5.0) as python:
        yield python


@pytest.fixture(scope="session")
def shared_data():
    """The reference data directory; tests that need it skip with the reason when absent."""
    path = data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(
            f"reference data not found at {path}: set TORA_DATA_DIR to a copy of shared/data"
        )
    return path
