"""Local ToRA checkpoints through transformers, with exact stop strings.

LangChain's own ``HuggingFacePipeline`` ignores ``stop``, but the ToRA loop depends on
it: every round must end right before the model starts writing an ```` ```output ````
block itself.  :class:`TransformersLLM` runs a causal LM (the released ToRA checkpoints
are Llama models prompted with ``<|user|>\\n{question}\\n<|assistant|>\\n``) with batched
left-padded generation, greedy or nucleus sampling, several samples per prompt, token
streaming, and stop strings that behave like OpenAI's and vLLM's: generation stops as
soon as the decoded continuation contains one, and the returned text ends right before
it.

Example:
    >>> from langchain_tora.local_llm import TransformersLLM  # doctest: +SKIP
    >>> llm = TransformersLLM(model_id="llm-agents/tora-code-7b-v1.0")  # doctest: +SKIP
    >>> llm.invoke("<|user|>\\nWhat is 2 + 3?\\n<|assistant|>\\n", stop=["```output"])  # doctest: +SKIP
    '```python\\nprint(2 + 3)\\n```\\n'
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from pydantic import Field, PrivateAttr

try:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        StoppingCriteria,
        StoppingCriteriaList,
    )
    from transformers.generation.streamers import BaseStreamer
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "langchain_tora.local_llm needs torch and transformers: "
        'pip install "langchain-tora[local]" (and a torch build for your hardware)'
    ) from _missing

__all__ = ["FinishReason", "TransformersLLM", "truncate_at_stop"]

FinishReason = Literal["stop", "length"]
"""Why a generation ended: a stop string or EOS (``"stop"``), or ``max_tokens`` (``"length"``)."""

_CALL_KWARGS = frozenset({"max_tokens", "temperature", "top_p", "n", "seed"})
_TRUE = frozenset({"1", "ON", "YES", "TRUE"})
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
_CONTEXT_TOKENS = 4
"""Prompt tokens decoded in front of the continuation, so that its first token keeps its
leading space (sentencepiece drops it at the start of a decoded sequence)."""


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Cut ``text`` right before the earliest occurrence of any stop string.

    Returns the text and whether a stop string was found.  Empty stop strings are ignored.

    Example:
        >>> truncate_at_stop("x = 1\\n```output\\n1", ["```output", "</s>"])
        ('x = 1\\n', True)
        >>> truncate_at_stop("no stop here", ["```output"])
        ('no stop here', False)
    """
    cut = _first_stop(text, stop or ())
    return (text, False) if cut is None else (text[:cut], True)


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stop: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


def _hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().upper() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _looks_like_path(model_id: str) -> bool:
    """Whether ``model_id`` can only mean a local path (Hub ids are ``name`` or ``org/name``)."""
    return (
        model_id.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or model_id.count("/") > 1
        or "\\" in model_id
        or Path(model_id).expanduser().exists()
    )


class _StopOnText(StoppingCriteria):
    """Ends each row as soon as the text of its new tokens contains a stop string.

    Only a window of the latest tokens is decoded each step (a stop string that was not
    there before must end in them), so the check stays cheap for long generations; the
    returned text is cut on the full decode afterwards, so the window only decides how
    early a row stops, never what it returns.  ``ended_at[row]`` is the number of new
    tokens when the row ended (stop string or EOS), None while it runs.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        stop: Sequence[str],
        prompt_width: int,
        rows: int,
        eos_ids: Sequence[int],
        cancel: threading.Event | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prompt_width = prompt_width
        self.eos_ids = set(eos_ids)
        self.cancel = cancel
        self.ended_at: list[int | None] = [None] * rows
        longest = max((len(s) for s in self.stop), default=0)
        # A character is at most 4 byte-fallback tokens; a few more absorb decode edges.
        self.window = 4 * longest + 8

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_width :]
        count = new.shape[1]
        running = [i for i, end in enumerate(self.ended_at) if end is None]
        if running and count:
            last = new[running, -1].tolist()
            for row, token in zip(running, last, strict=True):
                if token in self.eos_ids:
                    self.ended_at[row] = count
            running = [i for i in running if self.ended_at[i] is None]
        if running and count and self.stop:
            tails = new[running, -self.window :].tolist()
            texts = self.tokenizer.batch_decode(
                tails, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            for row, text in zip(running, texts, strict=True):
                if _first_stop(text, self.stop) is not None:
                    self.ended_at[row] = count
        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(len(self.ended_at), dtype=torch.bool, device=input_ids.device)
        done = [end is not None for end in self.ended_at]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _QueueStreamer(BaseStreamer):
    """Hands the new token ids of a one-row generation to another thread."""

    def __init__(self, sink: queue.Queue[Any]) -> None:
        self.sink = sink
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt
            self.prompt_seen = True
            return
        self.sink.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class _Params:
    """The generation parameters of one call: the fields, overridden by call kwargs."""

    def __init__(self, llm: TransformersLLM, kwargs: dict[str, Any]) -> None:
        unknown = set(kwargs) - _CALL_KWARGS
        if unknown:
            raise TypeError(
                f"TransformersLLM got unexpected keyword arguments {sorted(unknown)}; "
                f"per-call overrides are {sorted(_CALL_KWARGS)}"
            )
        self.max_tokens = int(kwargs.get("max_tokens", llm.max_tokens))
        self.temperature = float(kwargs.get("temperature", llm.temperature))
        self.top_p = float(kwargs.get("top_p", llm.top_p))
        self.n = int(kwargs.get("n", llm.n))
        self.seed: int | None = kwargs.get("seed", llm.seed)
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, not {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.n < 1:
            raise ValueError(f"n must be at least 1, not {self.n}")

    @property
    def sample(self) -> bool:
        return self.temperature > 0


class TransformersLLM(BaseLLM):
    """ToRA-format checkpoints run locally with transformers, with exact stop strings.

    Generation stops as soon as the decoded continuation contains a stop string, and the
    text ends right before it (the stop string is not included), as with OpenAI and
    vLLM; many prompts are generated together with left padding; ``n`` samples per
    prompt; tokens stream through callbacks.

    Setup:
        Install the ``local`` extra and a torch build for your hardware:

        .. code-block:: bash

            pip install "langchain-tora[local]"
            hf download llm-agents/tora-code-7b-v1.0   # optional: prefetch for offline use

        ``model_id`` is a local folder (with ``config.json``) or a Hub id; with
        ``HF_HUB_OFFLINE=1`` (or ``local_files_only=True``) Hub ids load from the cache only.

    Key init args — generation params:
        max_tokens: int
            Max new tokens per call (overridable per call: ``max_tokens=``).
        temperature: float
            0 is greedy; above 0 samples.
        top_p: float
            Nucleus sampling mass.
        n: int
            Samples per prompt.
        seed: int | None
            Makes sampling reproducible.

    Key init args — client params:
        model_id: str
            Local path or Hub id.
        device: str
            ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        torch_dtype: str
            ``"auto"`` (the checkpoint's), ``"bfloat16"``, ``"float16"``, ``"float32"``.
        batch_size: int
            Prompts per forward batch.

    Instantiate:
        .. code-block:: python

            from langchain_tora.local_llm import TransformersLLM

            llm = TransformersLLM(
                model_id="llm-agents/tora-code-7b-v1.0",
                device="cuda",
                torch_dtype="bfloat16",
                max_tokens=1024,
            )
            # or with objects already in memory:
            llm = TransformersLLM.from_model(model, tokenizer)

    Invoke:
        .. code-block:: python

            prompt = "<|user|>\\nWhat is 2 + 3?\\n<|assistant|>\\n"
            llm.invoke(prompt, stop=["```output"])

        .. code-block:: python

            '```python\\nprint(2 + 3)\\n```\\n'

    Stream:
        .. code-block:: python

            for chunk in llm.stream(prompt, stop=["```output"]):
                print(chunk, end="", flush=True)

    Async:
        .. code-block:: python

            await llm.ainvoke(prompt, stop=["```output"])

            async for chunk in llm.astream(prompt):
                print(chunk, end="", flush=True)

            await llm.abatch([prompt, prompt])

    Batch:
        .. code-block:: python

            llm.batch([prompt_1, prompt_2], stop=["```output"])  # one batched generation

            result = llm.generate([prompt_1], n=4, temperature=0.7, seed=0)
            [g.text for g in result.generations[0]]  # 4 samples
            result.generations[0][0].generation_info
            # {'finish_reason': 'stop', 'prompt_tokens': 17, 'completion_tokens': 12}

    With the ToRA loop:
        .. code-block:: python

            from langchain_tora import ToRAChain

            chain = ToRAChain(llm=llm)
            chain.invoke("What is 17 * 23?")["answer"]
    """

    model_id: str
    """Local folder (holding ``config.json``, tokenizer and weights) or Hugging Face Hub id."""

    device: str = "auto"
    """Where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``
    (CUDA when available, then MPS, else CPU)."""

    torch_dtype: str = "auto"
    """Weights dtype: ``"auto"`` (the checkpoint's), ``"bfloat16"``, ``"float16"`` or
    ``"float32"`` (the safe choice on CPU)."""

    max_tokens: int = Field(default=1024, gt=0)
    """Max new tokens per generation; a call's ``max_tokens=`` overrides it."""

    temperature: float = Field(default=0.0, ge=0.0)
    """Sampling temperature; 0 is greedy decoding."""

    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling: sample from the smallest token set with this probability mass."""

    n: int = Field(default=1, ge=1)
    """Samples per prompt: ``generate()`` returns ``n`` generations for each prompt."""

    seed: int | None = None
    """Seed for sampling: the same seed, prompts and parameters give the same samples.
    The global RNG state is restored afterwards."""

    batch_size: int = Field(default=16, ge=1)
    """Prompts per forward batch (each prompt is ``n`` rows when sampling)."""

    trust_remote_code: bool = False
    """Allow checkpoints that ship their own modeling code."""

    local_files_only: bool | None = None
    """Load from local files / the Hub cache only; None follows ``HF_HUB_OFFLINE``."""

    streaming: bool = False
    """Stream tokens through callbacks when ``invoke`` (one prompt, ``n=1``) has a run manager."""

    _model: PreTrainedModel | None = PrivateAttr(default=None)
    _tokenizer: PreTrainedTokenizerBase | None = PrivateAttr(default=None)
    _load_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _generate_lock: Any = PrivateAttr(default_factory=threading.Lock)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_model(
        cls,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        **kwargs: Any,
    ) -> TransformersLLM:
        """Wrap a model and tokenizer that are already loaded.

        ``device`` defaults to the model's device; passing one moves the model there.
        The tokenizer's ``padding_side`` is set to ``"left"``.

        Example:
            >>> llm = TransformersLLM.from_model(model, tokenizer, max_tokens=256)  # doctest: +SKIP
        """
        move = "device" in kwargs
        kwargs.setdefault(
            "model_id", getattr(model.config, "name_or_path", "") or type(model).__name__
        )
        kwargs.setdefault("device", str(model.device))
        llm = cls(**kwargs)
        if move:
            model = model.to(llm._resolved_device())
        llm._attach(model, tokenizer)
        return llm

    def load(self) -> TransformersLLM:
        """Load the model and tokenizer now (otherwise the first call loads them).

        Example:
            >>> llm = TransformersLLM(model_id="llm-agents/tora-code-7b-v1.0").load()  # doctest: +SKIP
        """
        with self._load_lock:
            if self._model is None or self._tokenizer is None:
                model, tokenizer = self._load()
                self._attach(model, tokenizer)
        return self

    @property
    def model(self) -> PreTrainedModel:
        """The transformers model (loaded on first access)."""
        self.load()
        assert self._model is not None
        return self._model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer (loaded on first access)."""
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer

    def _attach(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        tokenizer.padding_side = "left"
        model.eval()
        self._model = model
        self._tokenizer = tokenizer

    def _resolved_device(self) -> torch.device:
        if self.device != "auto":
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    def _resolved_dtype(self) -> torch.dtype | str:
        if self.torch_dtype == "auto":
            return "auto"
        name = self.torch_dtype.removeprefix("torch.")
        if name not in _DTYPES:
            raise ValueError(
                f"torch_dtype {self.torch_dtype!r} is not one of 'auto', {', '.join(map(repr, _DTYPES))}"
            )
        return _DTYPES[name]

    def _load(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        path = Path(self.model_id).expanduser()
        offline = self.local_files_only if self.local_files_only is not None else _hub_offline()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise FileNotFoundError(
                    f"{path} has no config.json: point model_id at the folder that holds the "
                    "checkpoint (config.json, tokenizer files and weights)"
                )
            source, local = str(path), True
        elif _looks_like_path(self.model_id):
            what = "is a file, not a checkpoint folder" if path.exists() else "does not exist"
            raise FileNotFoundError(
                f"model path {str(path)!r} {what}: check the path, or pass a Hub id such as "
                "'llm-agents/tora-code-7b-v1.0' (download it with "
                "`hf download llm-agents/tora-code-7b-v1.0`, `huggingface-cli download` on older "
                "huggingface_hub)"
            )
        else:
            source, local = self.model_id, False
        common: dict[str, Any] = {
            "trust_remote_code": self.trust_remote_code,
            "local_files_only": offline,
        }
        device, dtype = self._resolved_device(), self._resolved_dtype()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **common)
            # Weights load straight onto the device (no full copy in CPU memory first).
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, device_map=str(device), **common
            )
        except (OSError, ValueError) as err:
            if local:
                raise OSError(f"could not load the checkpoint at {source!r}: {err}") from err
            if offline:
                raise OSError(
                    f"{source!r} is not in the Hugging Face cache and loading is offline "
                    "(HF_HUB_OFFLINE=1 or local_files_only=True). Download it first with "
                    f"`hf download {source}` (`huggingface-cli download {source}` on older "
                    "huggingface_hub), or set HF_HUB_OFFLINE=0 / local_files_only=False to let "
                    f"it download, or pass the path of a local copy. ({err})"
                ) from err
            raise OSError(
                f"could not load {source!r} from the Hugging Face Hub: check the id (e.g. "
                "'llm-agents/tora-code-7b-v1.0'), the network, and `hf auth login` for gated "
                f"models; or pass the path of a local copy. ({err})"
            ) from err
        return model, tokenizer

    # ------------------------------------------------------------------ LangChain API

    @property
    def _llm_type(self) -> str:
        return "transformers-tora"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "device": self.device,
            "torch_dtype": self.torch_dtype,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "seed": self.seed,
        }

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Generate ``n`` continuations for each prompt, ``batch_size`` prompts at a time.

        Each generation's ``generation_info`` has ``finish_reason`` (``"stop"``: a stop
        string or EOS; ``"length"``: ``max_tokens``), ``prompt_tokens`` and
        ``completion_tokens``; ``llm_output["token_usage"]`` has the totals.  Call kwargs
        ``max_tokens``, ``temperature``, ``top_p``, ``n`` and ``seed`` override the fields.
        """
        params = _Params(self, kwargs)
        if self.streaming and run_manager is not None and len(prompts) == 1 and params.n == 1:
            chunk: GenerationChunk | None = None
            for piece in self._stream(prompts[0], stop, run_manager, **kwargs):
                chunk = piece if chunk is None else chunk + piece
            assert chunk is not None
            info = chunk.generation_info or {}
            generations = [[Generation(text=chunk.text, generation_info=info)]]
            return LLMResult(generations=generations, llm_output=self._llm_output(generations))

        self.load()
        encoded = [self._encode(p) for p in prompts]
        # Similar lengths share a batch (less padding); results go back in prompt order.
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[list[Generation]] = [[] for _ in prompts]
        with self._generate_lock, self._seeded(params.seed), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk_ids = order[start : start + self.batch_size]
                batch = self._generate_batch([encoded[i] for i in chunk_ids], stop or [], params)
                for i, gens in zip(chunk_ids, batch, strict=True):
                    results[i] = gens
        return LLMResult(generations=results, llm_output=self._llm_output(results))

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        """Stream one continuation of ``prompt`` (``n`` is ignored), token by token.

        Text that could still be the start of a stop string, or an incomplete character,
        is held back until it is known; the stop string itself is never emitted.  The
        last chunk is empty and carries the ``generation_info``.
        """
        params = _Params(self, kwargs)
        self.load()
        model, tokenizer = self.model, self.tokenizer
        stop = [s for s in stop or [] if s]
        ids = self._encode(prompt)
        context = ids[-_CONTEXT_TOKENS:]
        eos_ids = self._eos_ids()
        tokens: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        criterion = _StopOnText(tokenizer, stop, len(ids), 1, eos_ids, cancel)
        end = object()

        def work() -> None:
            try:
                with self._generate_lock, self._seeded(params.seed), torch.inference_mode():
                    input_ids = torch.tensor([ids], device=model.device)
                    model.generate(
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        generation_config=self._generation_config(params, eos_ids),
                        stopping_criteria=StoppingCriteriaList([criterion]),
                        streamer=_QueueStreamer(tokens),
                    )
            except BaseException as err:
                tokens.put(err)
            finally:
                tokens.put(end)

        thread = threading.Thread(target=work, name="transformers-tora-stream", daemon=True)
        thread.start()
        new: list[int] = []
        emitted = 0
        stopped = False
        try:
            while not stopped:
                item = tokens.get()
                if item is end:
                    break
                if isinstance(item, BaseException):
                    raise item
                new.extend(item)
                text, stopped = self._finish_text(context, new, eos_ids, stop)
                safe = len(text)
                if not stopped:
                    safe -= _held_back(text, stop)
                    while safe > emitted and text[safe - 1] == "\ufffd":  # incomplete character
                        safe -= 1
                if safe > emitted:
                    piece = GenerationChunk(text=text[emitted:safe])
                    emitted = safe
                    if run_manager is not None:
                        run_manager.on_llm_new_token(piece.text, chunk=piece)
                    yield piece
        finally:
            cancel.set()
            thread.join()
        text, stopped = self._finish_text(context, new, eos_ids, stop)
        if len(text) > emitted:  # what was held back and never became a stop string
            piece = GenerationChunk(text=text[emitted:])
            if run_manager is not None:
                run_manager.on_llm_new_token(piece.text, chunk=piece)
            yield piece
        finish: FinishReason = "stop" if stopped or len(new) < params.max_tokens else "length"
        yield GenerationChunk(
            text="",
            generation_info={
                "finish_reason": finish,
                "prompt_tokens": len(ids),
                "completion_tokens": len(self._until_end(new, eos_ids)[0]),
            },
        )

    # ------------------------------------------------------------------ internals

    def _encode(self, prompt: str) -> list[int]:
        ids = list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        if not ids:
            raise ValueError("the prompt encodes to no tokens: pass a non-empty prompt")
        return ids

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        config_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (config_eos, self.tokenizer.eos_token_id):
            for item in value if isinstance(value, list | tuple) else [value]:
                if item is not None and int(item) not in ids:
                    ids.append(int(item))
        return ids

    def _pad_id(self, eos_ids: Sequence[int]) -> int:
        """The tokenizer's pad token, else EOS (for generation only; the tokenizer is unchanged)."""
        if self.tokenizer.pad_token_id is not None:
            return int(self.tokenizer.pad_token_id)
        return eos_ids[0] if eos_ids else 0

    def _generation_config(self, params: _Params, eos_ids: Sequence[int]) -> GenerationConfig:
        # Everything that shapes the distribution is set explicitly, so that a checkpoint's
        # generation_config.json (top_k, repetition_penalty...) cannot change what the
        # parameters mean: plain greedy, or temperature + nucleus sampling as in vLLM.
        return GenerationConfig(
            max_new_tokens=params.max_tokens,
            min_new_tokens=0,
            do_sample=params.sample,
            temperature=params.temperature if params.sample else 1.0,
            top_p=params.top_p if params.sample else 1.0,
            top_k=0 if params.sample else 50,  # 50 is transformers' default, unused when greedy
            typical_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            num_beams=1,
            num_return_sequences=1,
            eos_token_id=list(eos_ids) or None,
            pad_token_id=self._pad_id(eos_ids),
        )

    def _seeded(self, seed: int | None) -> AbstractContextManager[Any]:
        if seed is None:
            return nullcontext()
        device = self.model.device
        cuda = device.type == "cuda"
        index = (
            (device.index if device.index is not None else torch.cuda.current_device())
            if cuda
            else None
        )
        return _SeededRNG(seed, index)

    def _generate_batch(
        self, prompts: list[list[int]], stop: list[str], params: _Params
    ) -> list[list[Generation]]:
        model, tokenizer = self.model, self.tokenizer
        eos_ids = self._eos_ids()
        pad_id = self._pad_id(eos_ids)
        copies = params.n if params.sample else 1  # greedy samples are all the same
        rows = [ids for ids in prompts for _ in range(copies)]
        width = max(len(ids) for ids in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for r, ids in enumerate(rows):  # left padding: every row ends at the last column
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[r, width - len(ids) :] = 1
        criterion = _StopOnText(tokenizer, [s for s in stop if s], width, len(rows), eos_ids)
        output = model.generate(
            input_ids=input_ids.to(model.device),
            attention_mask=attention.to(model.device),
            generation_config=self._generation_config(params, eos_ids),
            stopping_criteria=StoppingCriteriaList([criterion]),
        )
        new_rows = output[:, width:].tolist()
        out: list[list[Generation]] = []
        for p, ids in enumerate(prompts):
            gens = []
            for c in range(copies):
                r = p * copies + c
                new = new_rows[r]
                ended = criterion.ended_at[r]
                if ended is not None:  # a finished row may have been padded (or kept going)
                    new = new[:ended]
                text, stopped = self._finish_text(ids[-_CONTEXT_TOKENS:], new, eos_ids, stop)
                kept, eos = self._until_end(new, eos_ids)
                finish: FinishReason = "stop" if stopped or eos or ended is not None else "length"
                info = {
                    "finish_reason": finish,
                    "prompt_tokens": len(ids),
                    "completion_tokens": len(kept),
                }
                gens.append(Generation(text=text, generation_info=info))
            if copies < params.n:
                gens = [
                    Generation(
                        text=gens[0].text, generation_info=dict(gens[0].generation_info or {})
                    )
                    for _ in range(params.n)
                ]
            out.append(gens)
        return out

    @staticmethod
    def _until_end(new: list[int], eos_ids: Sequence[int]) -> tuple[list[int], bool]:
        """The generated tokens up to and including the first EOS, and whether there was one."""
        eos = set(eos_ids)
        for i, token in enumerate(new):
            if token in eos:
                return new[: i + 1], True
        return new, False

    def _finish_text(
        self, context: list[int], new: list[int], eos_ids: Sequence[int], stop: Sequence[str]
    ) -> tuple[str, bool]:
        """The continuation's text, cut at the first stop string; and whether it ended."""
        kept, eos = self._until_end(new, eos_ids)
        if eos:
            kept = kept[:-1]
        text, stopped = truncate_at_stop(self._decode_continuation(context, kept), stop)
        return text, stopped or eos

    def _decode_continuation(self, context: list[int], new: list[int]) -> str:
        """Decode new tokens as they read after the prompt (keeps a leading space)."""

        def decode(ids: list[int]) -> str:
            return self.tokenizer.decode(
                ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )

        if not new:
            return ""
        head = decode(context)
        full = decode(context + new)
        return full[len(head) :] if head and full.startswith(head) else decode(new)

    def _llm_output(self, generations: list[list[Generation]]) -> dict[str, Any]:
        prompt = completion = 0
        for gens in generations:
            for k, gen in enumerate(gens):
                info = gen.generation_info or {}
                completion += int(info.get("completion_tokens", 0))
                if k == 0:
                    prompt += int(info.get("prompt_tokens", 0))
        return {
            "token_usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "model_name": self.model_id,
        }


class _SeededRNG:
    """Seeds torch's CPU (and one CUDA device's) RNG, and restores the states on exit."""

    def __init__(self, seed: int, cuda_index: int | None) -> None:
        self.seed = seed
        self.cuda_index = cuda_index
        self._fork: AbstractContextManager[Any] | None = None

    def __enter__(self) -> None:
        devices = [self.cuda_index] if self.cuda_index is not None else []
        self._fork = torch.random.fork_rng(devices=devices, device_type="cuda")
        self._fork.__enter__()
        torch.random.default_generator.manual_seed(self.seed)
        if self.cuda_index is not None:
            with torch.cuda.device(self.cuda_index):
                torch.cuda.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        assert self._fork is not None
        self._fork.__exit__(*exc)
