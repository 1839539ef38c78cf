"""ToRA checkpoints on vLLM: a served model (OpenAI-compatible server) or the in-process engine.

Two ways to run a ToRA checkpoint on vLLM, both as completion LLMs (``BaseLLM``) that the
chain calls once per round with every prompt still running (round-synchronous batch):

* :func:`served_completion_llm`: a model served by ``vllm serve`` through its
  OpenAI-compatible completions endpoint (``langchain_openai.OpenAI`` with ``base_url``).
  All prompts of a round go in one request (``batch_size`` prompts per request).
* :class:`VLLMEngineLLM`: vLLM's offline engine (``vllm.LLM``) in this process; all
  prompts of a round go to one ``generate`` call.  vLLM is imported only when the engine
  is first needed, with an error that says how to install it.

Both stop exactly at the stop strings (```` ```output ````, ``</s>``) and return the text
without them; both are greedy unless ``temperature`` is set.

On the command line (``tora solve`` / ``tora eval``), :func:`llm_from_spec` reads:

* ``--model vllm:http://localhost:8000/v1@llm-agents/tora-code-7b-v1.0``: the served
  model ``llm-agents/tora-code-7b-v1.0`` at that URL (``/v1`` is added when the URL has
  no path; the API key, if the server wants one, comes from ``$VLLM_API_KEY``);
* ``--model vllm:llm-agents/tora-code-7b-v1.0`` (or ``vllm:tora-code-7b``, or a folder):
  the in-process engine.

Example:
    >>> from langchain_tora.vllm import parse_vllm_spec
    >>> parse_vllm_spec("vllm:http://localhost:8000@llm-agents/tora-code-7b-v1.0")
    VLLMSpec(model='llm-agents/tora-code-7b-v1.0', base_url='http://localhost:8000/v1')
    >>> parse_vllm_spec("vllm:tora-code-7b")
    VLLMSpec(model='llm-agents/tora-code-7b-v1.0', base_url=None)

    .. code-block:: python

        from langchain_tora import ToRAChain
        from langchain_tora.vllm import VLLMEngineLLM, served_completion_llm

        llm = served_completion_llm("http://localhost:8000/v1", "llm-agents/tora-code-7b-v1.0")
        # or, in process: llm = VLLMEngineLLM(model="llm-agents/tora-code-7b-v1.0")
        chain = ToRAChain(llm=llm)
        outs = chain.batch(questions)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult
from pydantic import Field, PrivateAttr

__all__ = [
    "VLLM_PREFIX",
    "VLLMEngineLLM",
    "VLLMSpec",
    "is_vllm_spec",
    "llm_from_spec",
    "parse_vllm_spec",
    "served_completion_llm",
]

VLLM_PREFIX = "vllm:"
"""The ``--model`` prefix that selects vLLM (see :func:`parse_vllm_spec`)."""

_CALL_KWARGS = frozenset({"max_tokens", "temperature", "top_p", "n", "seed"})


@dataclass(frozen=True)
class VLLMSpec:
    """What a ``vllm:`` model string names."""

    model: str
    """The model id (as served, or to load in process)."""
    base_url: str | None
    """The server's OpenAI-compatible base URL, or None for the in-process engine."""


def is_vllm_spec(spec: str) -> bool:
    """True for ``vllm:...`` model strings.

    Example:
        >>> is_vllm_spec("vllm:http://localhost:8000/v1@m"), is_vllm_spec("openai:gpt-4o")
        (True, False)
    """
    return spec.startswith(VLLM_PREFIX)


def _with_api_path(url: str) -> str:
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"{url!r} is not a server URL; write it like http://localhost:8000/v1")
    if parts.path in ("", "/"):
        return url.rstrip("/") + "/v1"
    return url.rstrip("/")


def parse_vllm_spec(spec: str) -> VLLMSpec:
    """Read ``vllm:URL@MODEL`` (a served model) or ``vllm:MODEL`` (the in-process engine).

    In ``vllm:URL@MODEL`` the model is what follows the last ``@`` (Hub ids have no
    ``@``); a URL without a path gets ``/v1``.  Catalogue names (``tora-code-7b``) become
    Hub ids.

    Raises:
        ValueError: not a ``vllm:`` string, or a URL without ``@MODEL``.

    Example:
        >>> parse_vllm_spec("vllm:https://gpu.example:8443/v1@org/m").base_url
        'https://gpu.example:8443/v1'
    """
    from langchain_tora.models.catalogue import resolve_repo_id

    if not is_vllm_spec(spec):
        raise ValueError(f"{spec!r} is not a vllm: model string")
    rest = spec[len(VLLM_PREFIX) :].strip()
    if rest.startswith(("http://", "https://")):
        url, at, model = rest.rpartition("@")
        if not at or not url or not model:
            raise ValueError(
                f"{spec!r}: name the served model after '@', e.g. "
                "vllm:http://localhost:8000/v1@llm-agents/tora-code-7b-v1.0"
            )
        return VLLMSpec(model=resolve_repo_id(model), base_url=_with_api_path(url))
    if not rest:
        raise ValueError(
            "vllm: needs a model: vllm:MODEL (in-process engine) or vllm:URL@MODEL (a server)"
        )
    return VLLMSpec(model=resolve_repo_id(rest), base_url=None)


def served_completion_llm(
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    temperature: float = 0.0,
    top_p: float | None = None,
    seed: int | None = None,
    max_tokens: int = 1024,
    batch_size: int = 256,
    **kwargs: Any,
) -> BaseLLM:
    """A completion LLM on a vLLM (or any OpenAI-compatible) server.

    ``langchain_openai.OpenAI`` on the server's completions endpoint: the chain's
    prompts of a round go in one request (up to ``batch_size`` prompts per request),
    with the stop strings; greedy by default (``temperature=0``).  ``api_key`` defaults
    to ``$VLLM_API_KEY``, else a placeholder (vLLM without ``--api-key`` accepts any).
    Other keyword arguments go to ``OpenAI`` (``max_retries``, ``timeout``,
    ``http_client``...).

    Example:
        >>> llm = served_completion_llm(  # doctest: +SKIP
        ...     "http://localhost:8000/v1", "llm-agents/tora-code-7b-v1.0")
        >>> ToRAChain(llm=llm).batch(["What is 2 + 3?", "What is 17 * 23?"])  # doctest: +SKIP
    """
    try:
        from langchain_openai import OpenAI
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "a served vLLM model needs langchain-openai (its completions client): "
            "pip install langchain-openai"
        ) from error
    options: dict[str, Any] = {
        "base_url": base_url,
        "model": model,
        "api_key": api_key or os.environ.get("VLLM_API_KEY") or "EMPTY",
        "temperature": temperature,
        "max_tokens": max_tokens,
        "batch_size": batch_size,
        **kwargs,
    }
    if top_p is not None:
        options["top_p"] = top_p
    if seed is not None:
        options["seed"] = seed
    return OpenAI(**options)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ImportError(
            "VLLMEngineLLM needs vLLM in this environment: `pip install vllm` (Linux with a "
            "supported GPU, see https://docs.vllm.ai). Without it, serve the model elsewhere "
            "(`vllm serve MODEL`) and use --model vllm:http://HOST:8000/v1@MODEL, or run it "
            "with transformers (--model MODEL)"
        ) from error
    return vllm


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(found)] if found else text


class VLLMEngineLLM(BaseLLM):
    """ToRA checkpoints on vLLM's offline engine (``vllm.LLM``), in this process.

    Every call generates all its prompts in one ``LLM.generate`` call (vLLM schedules
    them together), with ``SamplingParams`` built from the fields and the call's
    overrides: ``max_tokens``, ``temperature`` (0: greedy), ``top_p``, ``n`` samples
    per prompt, ``seed`` and the exact ``stop`` strings (the text ends right before
    the first one, which is not included).

    Setup:
        .. code-block:: bash

            pip install vllm        # Linux with a GPU; imported only when the engine loads

    Instantiate:
        .. code-block:: python

            from langchain_tora.vllm import VLLMEngineLLM

            llm = VLLMEngineLLM(model="llm-agents/tora-code-7b-v1.0", dtype="bfloat16")
            llm = VLLMEngineLLM.from_engine(vllm.LLM(model=...))   # an engine already built

    Invoke / batch:
        .. code-block:: python

            prompt = "<|user|>\\nWhat is 2 + 3?\\n<|assistant|>\\n"
            llm.invoke(prompt, stop=["```output"])
            result = llm.generate([prompt, prompt], n=4, temperature=0.7, seed=0)
            result.generations[0][0].generation_info
            # {'finish_reason': 'stop', 'prompt_tokens': 17, 'completion_tokens': 12}

    With the ToRA loop:
        .. code-block:: python

            from langchain_tora import ToRAChain

            ToRAChain(llm=llm).batch(questions)   # one generate call per round
    """

    model: str
    """Hub id or local folder of the checkpoint."""
    dtype: str = "auto"
    """Weights dtype for vLLM: ``auto``, ``bfloat16``, ``float16``..."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs to shard the model over."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    """Fraction of GPU memory vLLM may take."""
    max_model_len: int | None = None
    """Context length (default: the model's)."""
    trust_remote_code: bool = False
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Further ``vllm.LLM`` arguments (``download_dir``, ``enforce_eager``, ``seed``...)."""

    max_tokens: int = Field(default=1024, gt=0)
    """Max new tokens per generation; a call's ``max_tokens=`` overrides it."""
    temperature: float = Field(default=0.0, ge=0.0)
    """Sampling temperature; 0 is greedy decoding."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    n: int = Field(default=1, ge=1)
    """Samples per prompt."""
    seed: int | None = None
    """Per-request sampling seed (the same seed and prompts give the same samples)."""
    use_tqdm: bool = False
    """Show vLLM's progress bar for each generate call."""

    _engine: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_engine(cls, engine: Any, **kwargs: Any) -> VLLMEngineLLM:
        """Wrap a ``vllm.LLM`` that is already built.

        Example:
            >>> llm = VLLMEngineLLM.from_engine(vllm.LLM(model="m"), max_tokens=256)  # doctest: +SKIP
        """
        kwargs.setdefault("model", str(getattr(engine, "model", None) or "vllm-engine"))
        llm = cls(**kwargs)
        llm._engine = engine
        return llm

    @property
    def engine(self) -> Any:
        """The ``vllm.LLM`` (built on first use)."""
        with self._lock:
            if self._engine is None:
                vllm = _import_vllm()
                options: dict[str, Any] = {
                    "model": self.model,
                    "dtype": self.dtype,
                    "tensor_parallel_size": self.tensor_parallel_size,
                    "gpu_memory_utilization": self.gpu_memory_utilization,
                    "trust_remote_code": self.trust_remote_code,
                }
                if self.max_model_len is not None:
                    options["max_model_len"] = self.max_model_len
                options.update(self.engine_kwargs)
                self._engine = vllm.LLM(**options)
        return self._engine

    @property
    def _llm_type(self) -> str:
        return "vllm-engine"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
        }

    def _sampling_params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> Any:
        unknown = set(kwargs) - _CALL_KWARGS
        if unknown:
            raise TypeError(
                f"VLLMEngineLLM got unexpected keyword arguments {sorted(unknown)}; "
                f"per-call overrides are {sorted(_CALL_KWARGS)}"
            )
        temperature = float(kwargs.get("temperature", self.temperature))
        vllm = _import_vllm()
        return vllm.SamplingParams(
            n=int(kwargs.get("n", self.n)),
            temperature=temperature,
            top_p=float(kwargs.get("top_p", self.top_p)) if temperature > 0 else 1.0,
            seed=kwargs.get("seed", self.seed),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            stop=[s for s in stop or [] if s] or None,
            include_stop_str_in_output=False,
        )

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Generate every prompt in one ``vllm.LLM.generate`` call.

        Each generation's ``generation_info`` has ``finish_reason`` (``stop`` or
        ``length``), ``prompt_tokens`` and ``completion_tokens``;
        ``llm_output["token_usage"]`` has the totals.
        """
        params = self._sampling_params(stop, kwargs)
        engine = self.engine
        with self._lock:
            outputs = engine.generate(list(prompts), params, use_tqdm=self.use_tqdm)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} results for {len(prompts)} prompts")
        stops = [s for s in stop or [] if s]
        generations: list[list[Generation]] = []
        prompt_total = completion_total = 0
        for request in outputs:
            prompt_tokens = len(getattr(request, "prompt_token_ids", None) or [])
            prompt_total += prompt_tokens
            gens = []
            for out in request.outputs:
                completion_tokens = len(getattr(out, "token_ids", None) or [])
                completion_total += completion_tokens
                info = {
                    "finish_reason": getattr(out, "finish_reason", None),
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                }
                gens.append(Generation(text=_cut_at_stop(out.text, stops), generation_info=info))
            generations.append(gens)
        usage = {
            "prompt_tokens": prompt_total,
            "completion_tokens": completion_total,
            "total_tokens": prompt_total + completion_total,
        }
        return LLMResult(
            generations=generations, llm_output={"token_usage": usage, "model_name": self.model}
        )


def llm_from_spec(
    spec: str,
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    max_tokens: int = 1024,
    **kwargs: Any,
) -> BaseLLM:
    """The completion LLM of a ``vllm:`` model string (see :func:`parse_vllm_spec`).

    Unset sampling options are greedy decoding.  Other keyword arguments go to
    :func:`served_completion_llm` or :class:`VLLMEngineLLM`.

    Example:
        >>> llm = llm_from_spec("vllm:http://localhost:8000/v1@llm-agents/tora-code-7b-v1.0")
        >>> type(llm).__name__, llm.model_name, llm.temperature
        ('OpenAI', 'llm-agents/tora-code-7b-v1.0', 0.0)
    """
    parsed = parse_vllm_spec(spec)
    if parsed.base_url is not None:
        return served_completion_llm(
            parsed.base_url,
            parsed.model,
            temperature=temperature or 0.0,
            top_p=top_p,
            seed=seed,
            max_tokens=max_tokens,
            **kwargs,
        )
    options: dict[str, Any] = {"model": parsed.model, "max_tokens": max_tokens, **kwargs}
    if temperature is not None:
        options["temperature"] = temperature
    if top_p is not None:
        options["top_p"] = top_p
    if seed is not None:
        options["seed"] = seed
    return VLLMEngineLLM(**options)
