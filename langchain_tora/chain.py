"""The ToRA loop as a LangChain Runnable: :class:`ToRAChain`.

One problem goes round by round: the model writes a rationale and a python block,
the block runs in the interpreter, its output is appended to the trajectory, and
the model continues, until it writes ``\\boxed{answer}`` or the number of tool calls
runs out.  Many problems go round-synchronously (:meth:`ToRAChain.batch`): in each
round one batched model call for every problem still running, then all their code
runs concurrently; a problem that finishes leaves the batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.language_models import BaseChatModel, BaseLanguageModel, BaseLLM
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    get_config_list,
)
from langchain_core.runnables.utils import AddableDict
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from langchain_tora.grading import extract_answer
from langchain_tora.interpreters import (
    OUTPUT_STYLES,
    BaseInterpreter,
    Execution,
    LocalInterpreter,
    OutputStyle,
    render_execution,
)
from langchain_tora.prompts import PromptFormat, get_prompt_format
from langchain_tora.trajectory import MAX_CALLS_NOTE, cut_round

StopReason = Literal["answer", "max_tool_calls", "empty_generation"]
"""Why a trajectory ended.

* ``answer``: the model ended a round without code to run (normally with ``\\boxed{}``);
* ``max_tool_calls``: the last allowed execution ran (``Reach max function call limit.``);
* ``empty_generation``: the model returned no text after at least one round.
"""

_MAX_TOKEN_FIELDS = ("max_tokens", "max_new_tokens", "max_output_tokens")


class EmptyGenerationError(ValueError):
    """The model returned no text at all for a question."""


class ToRAStep(TypedDict):
    """One round of a trajectory."""

    text: str
    """What the model wrote in this round (cut after its first closed python block)."""
    code: str | None
    """The program that ran after this round, or None."""
    output: str | None
    """What the model was shown of the execution (inside the ``output`` block)."""
    execution: dict[str, Any] | None
    """The raw execution: stdout, error, timed_out, duration."""


class ToRAUsage(TypedDict):
    """What a trajectory cost."""

    model_calls: int
    input_tokens: int | None
    output_tokens: int | None
    model_seconds: float
    """Seconds spent waiting for the model (a batched call counts for each problem in it)."""
    interpreter_seconds: float
    """Seconds spent waiting for executions (likewise for a batch)."""


class ToRAOutput(TypedDict):
    """The result of :meth:`ToRAChain.invoke`."""

    answer: str | None
    trajectory: str
    steps: list[ToRAStep]
    tool_calls: int
    stop_reason: StopReason
    usage: ToRAUsage


class ToRAInput(TypedDict):
    """Dict input of :class:`ToRAChain`; extra keys fill ``question_template``."""

    question: str
    context: NotRequired[str]


class _ToolInput(BaseModel):
    question: str = Field(description="The math problem to solve, in words or LaTeX.")


@dataclass
class _Problem:
    """The state of one trajectory while the loop runs."""

    question: str
    run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun | None
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    trajectory: str = ""
    rounds: list[tuple[str, str | None]] = field(default_factory=list)
    steps: list[ToRAStep] = field(default_factory=list)
    tool_calls: int = 0
    stop_reason: StopReason | None = None
    error: BaseException | None = None
    model_calls: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    model_seconds: float = 0.0
    interpreter_seconds: float = 0.0
    pending_code: str | None = None

    @property
    def running(self) -> bool:
        return self.stop_reason is None and self.error is None

    def add_tokens(self, input_tokens: int | None, output_tokens: int | None) -> None:
        if input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + input_tokens
        if output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + output_tokens

    def result(self) -> ToRAOutput:
        assert self.stop_reason is not None
        return {
            "answer": extract_answer(self.trajectory),
            "trajectory": self.trajectory,
            "steps": self.steps,
            "tool_calls": self.tool_calls,
            "stop_reason": self.stop_reason,
            "usage": {
                "model_calls": self.model_calls,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "model_seconds": round(self.model_seconds, 6),
                "interpreter_seconds": round(self.interpreter_seconds, 6),
            },
        }


@dataclass
class _Generation:
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class ToRAChain(RunnableSerializable[str | ToRAInput, ToRAOutput]):
    """Tool-integrated reasoning (ToRA) over any LangChain LLM or chat model.

    The model alternates natural-language reasoning with python blocks; each block
    runs in a sandboxed interpreter and its output is shown to the model, until the
    answer stands in ``\\boxed{}``.

    Setup:
        .. code-block:: bash

            pip install langchain-tora            # the loop, the sandbox, the grader
            pip install "langchain-tora[local]"   # + local ToRA checkpoints (transformers)

    Instantiate:
        .. code-block:: python

            from langchain_tora import ToRAChain
            from langchain_tora.interpreters import LocalInterpreter

            chain = ToRAChain(llm=my_llm, interpreter=LocalInterpreter())
            # a completion LLM gets the released checkpoints' prompt ("tora"),
            # a chat model the few-shot chat prompt ("chat"); or prompt="pal" / "cot".

    Invoke:
        .. code-block:: python

            out = chain.invoke("Olivia has $23. She bought five bagels for $3 each. "
                               "How much money does she have left?")
            out["answer"]        # '8'
            out["trajectory"]    # the assistant text, with ```python and ```output blocks
            out["steps"][0]      # {'text': ..., 'code': ..., 'output': '8', 'execution': {...}}

    Batch (round-synchronous, one batched model call per round):
        .. code-block:: python

            outs = chain.batch(questions, return_exceptions=True)

    Stream (each step as it completes, then the summary; the chunks add up to the
    output of ``invoke``):
        .. code-block:: python

            for chunk in chain.stream(question):
                print(chunk)

    Async:
        .. code-block:: python

            out = await chain.ainvoke(question)
            outs = await chain.abatch(questions)
            async for chunk in chain.astream(question): ...

    As a tool for agents:
        .. code-block:: python

            solver = chain.as_tool()   # name "math_solver", input {"question": str}
    """

    llm: BaseLanguageModel
    """The model: a completion LLM (``BaseLLM``) or a chat model (``BaseChatModel``)."""
    interpreter: BaseInterpreter = Field(default_factory=LocalInterpreter)
    """Where the code runs; the local sandbox by default (see ``E2BInterpreter`` for a remote one)."""
    prompt: str | PromptFormat = "auto"
    """Prompt format: ``tora``, ``chat``, ``pal``, ``cot`` (``chat:math`` picks an example set),
    a :class:`PromptFormat`, or ``auto``: ``tora`` for completion models, ``chat`` for chat models."""
    max_tool_calls: int = Field(default=4, ge=0)
    """Executions allowed per problem (the released code: 4, then ``Reach max function call limit.``);
    the model is called at most this many times (at least once)."""
    max_tokens_per_round: int | None = Field(default=1024, gt=0)
    """Passed to the model as its max-tokens setting for each round when the model has one
    (``max_tokens``, ``max_new_tokens`` or ``max_output_tokens``); None leaves the model's own."""
    output_style: OutputStyle = "2023-10"
    """How executions are shown to the model (see :func:`render_execution`)."""
    question_template: str | None = None
    """A ``str.format`` template over the input dict building the question text, e.g.
    ``"Facts:\\n{context}\\n\\nQuestion: {question}"``; None uses the question as it is."""
    use_stop: bool = True
    """Send the format's stop strings to the model (some APIs reject ``stop``); the chain cuts
    the text itself either way."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("prompt")
    @classmethod
    def _known_prompt(cls, value: str | PromptFormat) -> str | PromptFormat:
        if value != "auto":
            get_prompt_format(value)  # raises a clear error for unknown names
        return value

    @field_validator("output_style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        if value not in OUTPUT_STYLES:
            raise ValueError(f"unknown output_style {value!r}; use one of {OUTPUT_STYLES}")
        return value

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        *,
        interpreter: BaseInterpreter | None = None,
        llm_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ToRAChain:
        """A chain on a local ToRA-format checkpoint (a folder or a Hub id) via transformers.

        ``llm_kwargs`` go to :class:`~langchain_tora.local_llm.TransformersLLM`
        (``device``, ``temperature``, ``batch_size``...), the rest to the chain.  Hub ids
        load from the Hub cache when ``HF_HUB_OFFLINE=1``.  ``"tiny-tora"`` is the small
        synthetic-arithmetic model that ships with the package.

        Example:
            >>> chain = ToRAChain.from_pretrained("tiny-tora")  # doctest: +SKIP
            >>> chain.invoke("A shop has 1234 apples and sells 567. How many are left?")["answer"]  # doctest: +SKIP
            '667'
        """
        from langchain_tora.local_llm import TransformersLLM
        from langchain_tora.models import resolve_local_model

        llm = TransformersLLM(model_id=resolve_local_model(model_id), **(llm_kwargs or {}))
        kwargs.setdefault("prompt", "tora")
        if interpreter is not None:
            kwargs["interpreter"] = interpreter
        return cls(llm=llm, **kwargs)

    # ------------------------------------------------------------------ helpers

    @property
    def prompt_format(self) -> PromptFormat:
        """The resolved prompt format."""
        if self.prompt == "auto":
            return get_prompt_format("chat" if self._is_chat else "tora")
        return get_prompt_format(self.prompt)

    @property
    def _is_chat(self) -> bool:
        return isinstance(self.llm, BaseChatModel)

    @property
    def _tool_call_limit(self) -> int:
        limit = self.prompt_format.max_tool_calls
        return self.max_tool_calls if limit is None else min(limit, self.max_tool_calls)

    def _question(self, value: Any) -> str:
        """Validate an input and build the question text."""
        if isinstance(value, str):
            variables: dict[str, Any] = {"question": value}
        elif isinstance(value, dict):
            if "question" not in value:
                raise ValueError(
                    "ToRAChain input dict needs a 'question' key, e.g. "
                    "chain.invoke({'question': 'What is 2 + 3?'})"
                )
            variables = dict(value)
        else:
            raise TypeError(
                f"ToRAChain takes a question string or a dict with 'question', not {type(value).__name__}"
            )
        question = variables["question"]
        if not isinstance(question, str):
            raise TypeError(f"the question must be a string, not {type(question).__name__}")
        if not question.strip():
            raise ValueError("the question is empty: pass the text of a math problem")
        if self.question_template is None:
            return question
        try:
            return self.question_template.format(**variables)
        except KeyError as missing:
            raise ValueError(
                f"question_template needs {missing} but the input has only {sorted(variables)}"
            ) from None

    def _model_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.use_stop and self.prompt_format.stop:
            kwargs["stop"] = list(self.prompt_format.stop)
        if self.max_tokens_per_round is not None:
            fields = type(self.llm).model_fields
            for name in _MAX_TOKEN_FIELDS:
                if name in fields:
                    kwargs[name] = self.max_tokens_per_round
                    break
        return kwargs

    def _model_input(self, problem: _Problem) -> Any:
        fmt = self.prompt_format
        if self._is_chat:
            return fmt.chat_messages(problem.question, problem.rounds)
        return fmt.completion_prompt(problem.question) + problem.trajectory

    @staticmethod
    def _child_config(problem: _Problem, config: RunnableConfig) -> RunnableConfig:
        child: RunnableConfig = {
            "callbacks": problem.run_manager.get_child() if problem.run_manager else None,
        }
        if config.get("max_concurrency") is not None:
            child["max_concurrency"] = config["max_concurrency"]
        return child

    # ------------------------------------------------------- the model round

    def _generate(
        self, problems: list[_Problem], config: RunnableConfig
    ) -> list[_Generation | BaseException]:
        inputs = [self._model_input(p) for p in problems]
        configs = [self._child_config(p, config) for p in problems]
        kwargs = self._model_kwargs()
        start = time.perf_counter()
        if self._is_chat:
            raw = self.llm.batch(inputs, configs, return_exceptions=True, **kwargs)
            results = [_from_message(r) for r in raw]
        else:
            results = self._generate_completions(inputs, configs, config, kwargs)
        self._charge_model_time(problems, time.perf_counter() - start)
        return results

    def _generate_completions(
        self,
        prompts: list[str],
        configs: list[RunnableConfig],
        config: RunnableConfig,
        kwargs: dict[str, Any],
    ) -> list[_Generation | BaseException]:
        llm = cast(BaseLLM, self.llm)
        results: list[_Generation | BaseException] = []
        for chunk in _chunks(len(prompts), config.get("max_concurrency")):
            try:
                result = llm.generate(
                    [prompts[i] for i in chunk],
                    callbacks=[configs[i]["callbacks"] for i in chunk],
                    **kwargs,
                )
                results.extend(_from_llm_result(result))
            except Exception as batch_error:  # one bad prompt must not fail the others
                if len(chunk) == 1:
                    results.append(batch_error)
                    continue
                for i in chunk:
                    try:
                        one = llm.generate(
                            [prompts[i]], callbacks=[configs[i]["callbacks"]], **kwargs
                        )
                        results.extend(_from_llm_result(one))
                    except Exception as error:
                        results.append(error)
        return results

    async def _agenerate(
        self, problems: list[_Problem], config: RunnableConfig
    ) -> list[_Generation | BaseException]:
        inputs = [self._model_input(p) for p in problems]
        configs = [self._child_config(p, config) for p in problems]
        kwargs = self._model_kwargs()
        start = time.perf_counter()
        if self._is_chat:
            raw = await self.llm.abatch(inputs, configs, return_exceptions=True, **kwargs)
            results = [_from_message(r) for r in raw]
        else:
            llm = cast(BaseLLM, self.llm)
            results = []
            for chunk in _chunks(len(inputs), config.get("max_concurrency")):
                try:
                    result = await llm.agenerate(
                        [inputs[i] for i in chunk],
                        callbacks=[configs[i]["callbacks"] for i in chunk],
                        **kwargs,
                    )
                    results.extend(_from_llm_result(result))
                except Exception as batch_error:
                    if len(chunk) == 1:
                        results.append(batch_error)
                        continue
                    for i in chunk:
                        try:
                            one = await llm.agenerate(
                                [inputs[i]], callbacks=[configs[i]["callbacks"]], **kwargs
                            )
                            results.extend(_from_llm_result(one))
                        except Exception as error:
                            results.append(error)
        self._charge_model_time(problems, time.perf_counter() - start)
        return results

    @staticmethod
    def _charge_model_time(problems: list[_Problem], seconds: float) -> None:
        for p in problems:
            p.model_calls += 1
            p.model_seconds += seconds

    def _absorb_generation(
        self, problem: _Problem, generation: _Generation | BaseException
    ) -> ToRAStep | None:
        """Apply one model answer; return a finished step, or None when code must run."""
        if isinstance(generation, BaseException):
            problem.error = generation
            return None
        problem.add_tokens(generation.input_tokens, generation.output_tokens)
        fmt = self.prompt_format
        text = cut_round(generation.text, fmt.stop)
        if not text.strip():
            if not problem.rounds:
                problem.error = EmptyGenerationError(
                    f"the model ({type(self.llm).__name__}) returned no text for the question; "
                    "check that it is loaded and prompted correctly (prompt format "
                    f"{fmt.name!r}) and that max_tokens_per_round is not too small"
                )
                return None
            problem.stop_reason = "empty_generation"
            return None
        problem.trajectory += text
        code = fmt.program(text) if problem.tool_calls < self._tool_call_limit else None
        if code is None:
            problem.rounds.append((text, None))
            problem.stop_reason = "answer"
            step: ToRAStep = {"text": text, "code": None, "output": None, "execution": None}
            problem.steps.append(step)
            return step
        problem.pending_code = code
        problem.rounds.append((text, None))
        return None

    def _absorb_execution(self, problem: _Problem, execution: Execution) -> ToRAStep:
        fmt = self.prompt_format
        rendered = render_execution(execution, self.output_style)
        observation = fmt.observation(rendered)
        text, _ = problem.rounds[-1]
        problem.rounds[-1] = (text, observation)
        problem.trajectory += observation
        problem.tool_calls += 1
        problem.interpreter_seconds += execution.duration
        step: ToRAStep = {
            "text": text,
            "code": problem.pending_code,
            "output": rendered,
            "execution": execution.to_dict(),
        }
        problem.pending_code = None
        problem.steps.append(step)
        if fmt.ends_after_execution:
            problem.stop_reason = "answer"
        elif problem.tool_calls >= self._tool_call_limit:
            problem.trajectory += MAX_CALLS_NOTE
            problem.stop_reason = "max_tool_calls"
        return step

    # ----------------------------------------------------------- executions

    def _tool_runs(self, problems: list[_Problem]) -> list[Any]:
        runs = []
        for p in problems:
            manager = p.run_manager.get_child() if p.run_manager else None
            runs.append(
                manager.on_tool_start(
                    {"name": "python_interpreter", "description": "runs the round's python block"},
                    p.pending_code or "",
                    inputs={"code": p.pending_code},
                )
                if manager is not None
                else None
            )
        return runs

    def _execute(self, problems: list[_Problem]) -> list[Execution]:
        runs = self._tool_runs(problems)
        codes = [p.pending_code or "" for p in problems]
        start = time.perf_counter()
        try:
            executions = self.interpreter.run_batch(codes, sessions=[p.session for p in problems])
        except BaseException as error:
            for run in runs:
                if run is not None:
                    run.on_tool_error(error)
            raise
        elapsed = time.perf_counter() - start
        for run, execution in zip(runs, executions, strict=True):
            if run is not None:
                run.on_tool_end(render_execution(execution, self.output_style))
        return [_with_duration(e, elapsed) for e in executions]

    async def _aexecute(self, problems: list[_Problem]) -> list[Execution]:
        runs = []
        for p in problems:
            manager = p.run_manager.get_child() if p.run_manager else None
            runs.append(
                await manager.on_tool_start(
                    {"name": "python_interpreter", "description": "runs the round's python block"},
                    p.pending_code or "",
                    inputs={"code": p.pending_code},
                )
                if manager is not None
                else None
            )
        codes = [p.pending_code or "" for p in problems]
        start = time.perf_counter()
        try:
            executions = await self.interpreter.arun_batch(
                codes, sessions=[p.session for p in problems]
            )
        except BaseException as error:
            for run in runs:
                if run is not None:
                    await run.on_tool_error(error)
            raise
        elapsed = time.perf_counter() - start
        for run, execution in zip(runs, executions, strict=True):
            if run is not None:
                await run.on_tool_end(render_execution(execution, self.output_style))
        return [_with_duration(e, elapsed) for e in executions]

    # ------------------------------------------------------------ the loop

    def _drive(
        self, problems: list[_Problem], config: RunnableConfig
    ) -> Iterator[tuple[int, ToRAStep]]:
        """Run problems round-synchronously, yielding (index, step) as steps complete."""
        index = {id(p): i for i, p in enumerate(problems)}
        try:
            while active := [p for p in problems if p.running]:
                generations = self._generate(active, config)
                to_run: list[_Problem] = []
                for p, g in zip(active, generations, strict=True):
                    step = self._absorb_generation(p, g)
                    if step is not None:
                        yield index[id(p)], step
                    elif p.running and p.pending_code is not None:
                        to_run.append(p)
                if to_run:
                    for p, execution in zip(to_run, self._execute(to_run), strict=True):
                        yield index[id(p)], self._absorb_execution(p, execution)
        finally:
            self._end_sessions(problems)

    async def _adrive(
        self, problems: list[_Problem], config: RunnableConfig
    ) -> AsyncIterator[tuple[int, ToRAStep]]:
        index = {id(p): i for i, p in enumerate(problems)}
        try:
            while active := [p for p in problems if p.running]:
                generations = await self._agenerate(active, config)
                to_run: list[_Problem] = []
                for p, g in zip(active, generations, strict=True):
                    step = self._absorb_generation(p, g)
                    if step is not None:
                        yield index[id(p)], step
                    elif p.running and p.pending_code is not None:
                        to_run.append(p)
                if to_run:
                    executions = await self._aexecute(to_run)
                    for p, execution in zip(to_run, executions, strict=True):
                        yield index[id(p)], self._absorb_execution(p, execution)
        finally:
            self._end_sessions(problems)

    def _end_sessions(self, problems: list[_Problem]) -> None:
        for p in problems:
            self.interpreter.end_session(p.session)

    # ------------------------------------------------------- run managers

    def _start(
        self, inputs: Sequence[Any], configs: list[RunnableConfig]
    ) -> list[_Problem | BaseException]:
        started: list[_Problem | BaseException] = []
        for value, cfg in zip(inputs, configs, strict=True):
            manager = get_callback_manager_for_config(cfg)
            run_manager = manager.on_chain_start(
                None,
                value if isinstance(value, dict) else {"question": value},
                run_id=cfg.pop("run_id", None),
                name=cfg.get("run_name") or self.get_name(),
            )
            try:
                started.append(_Problem(self._question(value), run_manager))
            except Exception as error:
                run_manager.on_chain_error(error)
                started.append(error)
        return started

    async def _astart(
        self, inputs: Sequence[Any], configs: list[RunnableConfig]
    ) -> list[_Problem | BaseException]:
        started: list[_Problem | BaseException] = []
        for value, cfg in zip(inputs, configs, strict=True):
            manager = get_async_callback_manager_for_config(cfg)
            run_manager = await manager.on_chain_start(
                None,
                value if isinstance(value, dict) else {"question": value},
                run_id=cfg.pop("run_id", None),
                name=cfg.get("run_name") or self.get_name(),
            )
            try:
                started.append(_Problem(self._question(value), run_manager))
            except Exception as error:
                await run_manager.on_chain_error(error)
                started.append(error)
        return started

    @staticmethod
    def _finish(problem: _Problem) -> ToRAOutput | BaseException:
        run_manager = cast(CallbackManagerForChainRun | None, problem.run_manager)
        if problem.error is not None:
            if run_manager is not None:
                run_manager.on_chain_error(problem.error)
            return problem.error
        output = problem.result()
        if run_manager is not None:
            run_manager.on_chain_end(output)
        return output

    @staticmethod
    async def _afinish(problem: _Problem) -> ToRAOutput | BaseException:
        run_manager = cast(AsyncCallbackManagerForChainRun | None, problem.run_manager)
        if problem.error is not None:
            if run_manager is not None:
                await run_manager.on_chain_error(problem.error)
            return problem.error
        output = problem.result()
        if run_manager is not None:
            await run_manager.on_chain_end(output)
        return output

    # ---------------------------------------------------------- Runnable API

    def invoke(
        self, input: str | ToRAInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ToRAOutput:
        """Solve one problem; see the class docstring."""
        result = self.batch([input], config, **kwargs)[0]
        return result

    async def ainvoke(
        self, input: str | ToRAInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> ToRAOutput:
        """Async twin of :meth:`invoke`."""
        return (await self.abatch([input], config, **kwargs))[0]

    def batch(  # type: ignore[override]
        self,
        inputs: list[str | ToRAInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[ToRAOutput | Any]:
        """Solve many problems round-synchronously (one batched model call per round).

        With ``return_exceptions=True`` a problem whose input is bad or whose model call
        fails gets its exception in its place and the others go on.
        """
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        started = self._start(inputs, configs)
        problems = [p for p in started if isinstance(p, _Problem)]
        try:
            for _ in self._drive(problems, configs[0]):
                pass
        except Exception as error:
            for p in problems:
                if p.running:
                    p.error = error
        outputs = [self._finish(p) if isinstance(p, _Problem) else p for p in started]
        return _raise_or_return(outputs, return_exceptions)

    async def abatch(  # type: ignore[override]
        self,
        inputs: list[str | ToRAInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[ToRAOutput | Any]:
        """Async twin of :meth:`batch`."""
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        started = await self._astart(inputs, configs)
        problems = [p for p in started if isinstance(p, _Problem)]
        try:
            async for _ in self._adrive(problems, configs[0]):
                pass
        except Exception as error:
            for p in problems:
                if p.running:
                    p.error = error
        outputs = [await self._afinish(p) if isinstance(p, _Problem) else p for p in started]
        return _raise_or_return(outputs, return_exceptions)

    def stream(
        self, input: str | ToRAInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AddableDict]:
        """Yield ``{"steps": [step]}`` as each round completes, then the rest of the output.

        The chunks add up (``+``) to exactly what :meth:`invoke` returns.
        """
        config = ensure_config(config)
        (started,) = self._start([input], [config])
        if isinstance(started, BaseException):
            raise started
        try:
            for _, step in self._drive([started], config):
                yield AddableDict(steps=[step])
        except Exception as error:
            started.error = error
        output = self._finish(started)
        if isinstance(output, BaseException):
            raise output
        yield AddableDict({k: v for k, v in output.items() if k != "steps"})

    async def astream(
        self, input: str | ToRAInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AddableDict]:
        """Async twin of :meth:`stream`."""
        config = ensure_config(config)
        (started,) = await self._astart([input], [config])
        if isinstance(started, BaseException):
            raise started
        try:
            async for _, step in self._adrive([started], config):
                yield AddableDict(steps=[step])
        except Exception as error:
            started.error = error
        output = await self._afinish(started)
        if isinstance(output, BaseException):
            raise output
        yield AddableDict({k: v for k, v in output.items() if k != "steps"})

    def as_tool(  # type: ignore[override]
        self,
        name: str = "math_solver",
        description: str | None = None,
        **_: Any,
    ) -> BaseTool:
        """A tool for agents: input ``{"question": str}``, output the final answer.

        The tool's content is the answer (or a note that none was found); its artifact
        is the whole :class:`ToRAOutput`.

        Example:
            >>> tool = ToRAChain(llm=my_llm).as_tool()  # doctest: +SKIP
            >>> tool.invoke({"question": "What is 17 * 23?"})  # doctest: +SKIP
            '391'
        """

        def _content(out: ToRAOutput) -> tuple[str, ToRAOutput]:
            if out["answer"] is None:
                return "No final answer was found. Work so far:\n" + out["trajectory"][-2000:], out
            return out["answer"], out

        def solve(question: str) -> tuple[str, ToRAOutput]:
            return _content(self.invoke(question))

        async def asolve(question: str) -> tuple[str, ToRAOutput]:
            return _content(await self.ainvoke(question))

        return StructuredTool.from_function(
            func=solve,
            coroutine=asolve,
            name=name,
            description=description
            or (
                "Solves a math problem exactly by reasoning step by step and running Python "
                "(sympy, numpy). Input: the full problem statement. Output: the final answer."
            ),
            args_schema=_ToolInput,
            response_format="content_and_artifact",
        )


def _chunks(n: int, size: int | None) -> list[list[int]]:
    if not size or size >= n:
        return [list(range(n))]
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _from_message(message: Any) -> _Generation | BaseException:
    if isinstance(message, BaseException):
        return message
    if not isinstance(message, AIMessage):
        return TypeError(f"the chat model returned {type(message).__name__}, not an AIMessage")
    usage = message.usage_metadata or {}
    return _Generation(message.text, usage.get("input_tokens"), usage.get("output_tokens"))


def _from_llm_result(result: LLMResult) -> list[_Generation]:
    total = (result.llm_output or {}).get("token_usage") or {}
    single = len(result.generations) == 1
    out = []
    for gens in result.generations:
        if not gens:
            out.append(_Generation(""))
            continue
        info = gens[0].generation_info or {}
        usage = info.get("usage") or info.get("token_usage") or info
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        if single and prompt_tokens is None and completion_tokens is None:
            prompt_tokens, completion_tokens = (
                total.get("prompt_tokens"),
                total.get("completion_tokens"),
            )
        out.append(_Generation(gens[0].text, prompt_tokens, completion_tokens))
    return out


def _with_duration(execution: Execution, batch_seconds: float) -> Execution:
    if execution.duration:
        return execution
    return Execution(
        execution.stdout, execution.error, execution.timed_out, batch_seconds, execution.stderr
    )


def _raise_or_return(outputs: list[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for out in outputs:
            if isinstance(out, BaseException):
                raise out
    return outputs
