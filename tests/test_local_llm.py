"""TransformersLLM on a tiny Llama built and trained here (offline, a few seconds on CPU).

The tokenizer is a byte-level BPE trained on the few strings below; the model is a
2-layer Llama trained for 100 steps to reproduce them, so that greedy decoding is
predictable: ``tora_prompt("q")`` continues with ``abc```output\\nxyz</s>``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402

from langchain_tora.local_llm import TransformersLLM, _held_back, truncate_at_stop  # noqa: E402
from langchain_tora.trajectory import tora_prompt  # noqa: E402

P_STOP = tora_prompt("q")
P_CODE = tora_prompt("what is one?")
P_EOS = tora_prompt("e")
P_UNI = tora_prompt("pi?")
TRAINED = {
    P_STOP: "abc```output\nxyz",
    P_CODE: "print(1)\n```output\n1\n```",
    P_EOS: "end",
    P_UNI: "\u03c0 \u2248 3.14 \U0001f600",
}
OTHER = [tora_prompt("x"), tora_prompt("a longer question about numbers, 12 + 30?"), "hello"]


def _build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([p + t for p, t in TRAINED.items()], trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def _train_model(tokenizer: Any) -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = transformers.LlamaForCausalLM(config)
    texts = [p + t + tokenizer.eos_token for p, t in TRAINED.items()]
    tokenizer.padding_side = "right"
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(100):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return model


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The model is tiny: one intra-op thread is fastest, and robust on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ToRA-format checkpoint folder (config, weights, tokenizer)."""
    path = tmp_path_factory.mktemp("tiny-tora")
    tokenizer = _build_tokenizer()
    with torch.random.fork_rng(devices=[]):
        model = _train_model(tokenizer)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def llm(checkpoint: Path) -> TransformersLLM:
    return TransformersLLM(
        model_id=str(checkpoint), device="cpu", torch_dtype="float32", max_tokens=40
    ).load()


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


# ---------------------------------------------------------------------- pure helpers


def test_truncate_at_stop_cuts_before_the_earliest_stop() -> None:
    assert truncate_at_stop("a```output\nb</s>", ["</s>", "```output"]) == ("a", True)
    assert truncate_at_stop("abc", ["x", ""]) == ("abc", False)
    assert truncate_at_stop("abc", None) == ("abc", False)
    assert truncate_at_stop("```output", ["```output"]) == ("", True)


def test_held_back_is_the_longest_stop_prefix_at_the_end() -> None:
    assert _held_back("x = 1\n``", ["```output"]) == 2
    assert _held_back("x = 1\n```outp", ["```output", "\n\n"]) == 7
    assert _held_back("x = 1\n", ["```output", "\n\n"]) == 1
    assert _held_back("x = 1", ["```output"]) == 0


def test_continuation_keeps_the_leading_space_of_sentencepiece_tokens(llm: TransformersLLM) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(["Let me compute the answer", "The answer is 42"], trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    ids = tokenizer("The answer is 42", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids[-1:]) == "42"  # the space is lost when decoded alone
    sp = TransformersLLM.from_model(llm.model, tokenizer)
    assert sp._decode_continuation(ids[:-1], ids[-1:]) == " 42"
    assert sp._decode_continuation([], ids) == "The answer is 42"


# ---------------------------------------------------------------------- loading


def test_loads_from_a_path_and_reproduces_training(llm: TransformersLLM) -> None:
    assert llm._llm_type == "transformers-tora"
    assert llm.tokenizer.padding_side == "left"
    assert llm._identifying_params["max_tokens"] == 40
    result = llm.generate(list(TRAINED))
    for gens, expected in zip(result.generations, TRAINED.values(), strict=True):
        (gen,) = gens
        assert gen.text == expected
        assert gen.generation_info is not None
        assert gen.generation_info["finish_reason"] == "stop"  # EOS
    info = result.generations[2][0].generation_info
    assert info is not None
    assert info["prompt_tokens"] == len(llm.tokenizer(P_EOS).input_ids)
    assert info["completion_tokens"] == len(llm.tokenizer("end").input_ids)  # "end" + EOS
    usage = (result.llm_output or {})["token_usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_missing_path_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist: check the path"):
        TransformersLLM(model_id=str(tmp_path / "no-such-model")).load()
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        TransformersLLM(model_id=str(tmp_path)).load()


def test_uncached_hub_id_offline_says_how_to_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llm = TransformersLLM(model_id="langchain-tora-tests/no-such-model")
    with pytest.raises(OSError, match=r"hf download langchain-tora-tests/no-such-model") as err:
        llm.load()
    assert "HF_HUB_OFFLINE=0" in str(err.value)


def test_bad_dtype_and_call_kwargs_are_rejected(llm: TransformersLLM) -> None:
    with pytest.raises(ValueError, match="torch_dtype"):
        TransformersLLM(model_id="x", torch_dtype="int3")._resolved_dtype()
    with pytest.raises(TypeError, match="max_new_tokens"):
        llm.invoke(P_EOS, max_new_tokens=3)
    with pytest.raises(ValueError, match="top_p"):
        llm.invoke(P_EOS, top_p=0.0)


# ---------------------------------------------------------------------- stop strings


def test_stop_string_ends_generation_and_is_not_returned(llm: TransformersLLM) -> None:
    stopped = llm.generate([P_STOP], stop=["```output"]).generations[0][0]
    full = llm.generate([P_STOP]).generations[0][0]
    assert stopped.text == "abc"
    assert full.text == "abc```output\nxyz"
    assert stopped.generation_info is not None and full.generation_info is not None
    assert stopped.generation_info["finish_reason"] == "stop"
    assert stopped.generation_info["completion_tokens"] < full.generation_info["completion_tokens"]
    # stop strings that end inside a token, or span tokens, cut exactly
    assert llm.invoke(P_STOP, stop=["c`"]) == "ab"
    assert llm.invoke(P_STOP, stop=["put\nx", "zzz"]) == "abc```out"
    assert llm.invoke(P_STOP, stop=["nothing like it"]) == "abc```output\nxyz"


def test_rows_of_a_batch_stop_independently(llm: TransformersLLM) -> None:
    prompts = [P_STOP, P_CODE, P_EOS, *OTHER]
    together = llm.generate(prompts, stop=["```output"], max_tokens=12)
    alone = [llm.generate([p], stop=["```output"], max_tokens=12) for p in prompts]
    texts = [g[0].text for g in together.generations]
    assert texts[:3] == ["abc", "print(1)\n", "end"]
    assert texts == [r.generations[0][0].text for r in alone]
    for gens, single in zip(together.generations, alone, strict=True):
        assert gens[0].generation_info == single.generations[0][0].generation_info


# ---------------------------------------------------------------------- batching


def test_left_padded_batches_match_one_at_a_time(llm: TransformersLLM) -> None:
    prompts = [*OTHER, P_CODE, tora_prompt("what is 7 times 6, exactly?"), "a"]
    lengths = {len(llm.tokenizer(p).input_ids) for p in prompts}
    assert len(lengths) == len(prompts)  # really different lengths: real padding
    alone = [llm.invoke(p, max_tokens=15) for p in prompts]
    assert llm.batch(prompts, max_tokens=15) == alone
    small = llm.model_copy(update={"batch_size": 2})
    small._attach(llm.model, llm.tokenizer)
    assert small.batch(prompts, max_tokens=15) == alone


def test_tokenizer_without_pad_token_uses_eos_for_generation_only(llm: TransformersLLM) -> None:
    tokenizer = copy.deepcopy(llm.tokenizer)
    tokenizer.pad_token = None
    no_pad = TransformersLLM.from_model(llm.model, tokenizer, max_tokens=15)
    assert no_pad.model_id == llm.model.config.name_or_path
    assert no_pad.device == "cpu"
    prompts = [P_STOP, *OTHER]
    assert no_pad.batch(prompts) == llm.batch(prompts, max_tokens=15)
    assert tokenizer.pad_token is None


# ---------------------------------------------------------------------- parameters


def test_max_tokens_gives_finish_reason_length(llm: TransformersLLM) -> None:
    gen = llm.generate([P_CODE], max_tokens=3).generations[0][0]
    assert gen.generation_info == {
        "finish_reason": "length",
        "prompt_tokens": len(llm.tokenizer(P_CODE).input_ids),
        "completion_tokens": 3,
    }
    assert TRAINED[P_CODE].startswith(gen.text)
    assert len(gen.text) < len(TRAINED[P_CODE])
    short = TransformersLLM.from_model(llm.model, llm.tokenizer, max_tokens=3)
    assert short.invoke(P_CODE) == gen.text
    assert short.invoke(P_CODE, max_tokens=40) == TRAINED[P_CODE]  # the call overrides the field


def test_samples_are_reproducible_with_a_seed(llm: TransformersLLM) -> None:
    prompt = OTHER[1]
    kwargs: dict[str, Any] = {"n": 3, "temperature": 1.5, "max_tokens": 8}
    first = llm.generate([prompt, P_EOS], seed=123, **kwargs).generations
    again = llm.generate([prompt, P_EOS], seed=123, **kwargs).generations
    other = llm.generate([prompt, P_EOS], seed=7, **kwargs).generations
    assert [len(g) for g in first] == [3, 3]
    texts = [g.text for g in first[0]]
    assert texts == [g.text for g in again[0]]
    assert len(set(texts)) > 1  # samples differ from each other
    assert texts != [g.text for g in other[0]]
    seeded = TransformersLLM.from_model(llm.model, llm.tokenizer, seed=123, **kwargs)
    assert [g.text for g in seeded.generate([prompt, P_EOS]).generations[0]] == texts
    greedy = llm.generate([prompt], n=3, max_tokens=8).generations[0]
    assert len({g.text for g in greedy}) == 1
    assert greedy[0].text == llm.invoke(prompt, max_tokens=8)


# ---------------------------------------------------------------------- streaming


def test_streaming_callbacks_receive_the_result(llm: TransformersLLM) -> None:
    streaming = TransformersLLM.from_model(llm.model, llm.tokenizer, max_tokens=40, streaming=True)
    handler = Tokens()
    text = streaming.invoke(P_CODE, stop=["```output"], config={"callbacks": [handler]})
    assert text == "print(1)\n"
    assert len(handler.tokens) > 1
    assert "".join(handler.tokens) == text
    handler = Tokens()
    result = streaming.generate([P_STOP], callbacks=[handler])
    gen = result.generations[0][0]
    assert gen.text == TRAINED[P_STOP] == "".join(handler.tokens)
    assert gen.generation_info is not None and gen.generation_info["finish_reason"] == "stop"
    assert (result.llm_output or {})["token_usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("stop", [None, ["```output"], ["c`"], ["never"]])
@pytest.mark.parametrize("prompt", [P_STOP, P_CODE, P_UNI, OTHER[1]])
def test_stream_matches_generate(llm: TransformersLLM, prompt: str, stop: list[str] | None) -> None:
    handler = Tokens()
    chunks = list(llm.stream(prompt, stop=stop, max_tokens=20, config={"callbacks": [handler]}))
    expected = llm.invoke(prompt, stop=stop, max_tokens=20)
    assert "".join(chunks) == expected
    assert "".join(handler.tokens) == expected
    if prompt == P_UNI:  # multi-byte characters arrive whole, never as replacement characters
        assert "\ufffd" not in "".join(chunks) and expected


def test_stream_reports_finish_reason(llm: TransformersLLM) -> None:
    chunks = list(llm._stream(P_CODE, max_tokens=3))
    assert chunks[-1].generation_info == {
        "finish_reason": "length",
        "prompt_tokens": len(llm.tokenizer(P_CODE).input_ids),
        "completion_tokens": 3,
    }
    chunks = list(llm._stream(P_STOP, stop=["```output"]))
    assert "".join(c.text for c in chunks) == "abc"
    assert chunks[-1].generation_info is not None
    assert chunks[-1].generation_info["finish_reason"] == "stop"


def test_abandoned_stream_stops_the_worker(llm: TransformersLLM) -> None:
    stream: Iterator[str] = llm.stream(OTHER[1], max_tokens=200)
    next(stream)
    started = time.monotonic()
    stream.close()  # type: ignore[attr-defined]
    assert time.monotonic() - started < 5
    assert llm.invoke(P_EOS) == "end"  # the model is free again


async def test_async_invoke_and_stream(llm: TransformersLLM) -> None:
    assert await llm.ainvoke(P_STOP, stop=["```output"]) == "abc"
    chunks = [c async for c in llm.astream(P_CODE, stop=["```output"])]
    assert "".join(chunks) == "print(1)\n"
    assert await llm.abatch([P_STOP, P_EOS]) == [TRAINED[P_STOP], "end"]


def test_chain_finds_the_max_tokens_field() -> None:
    assert "max_tokens" in TransformersLLM.model_fields
