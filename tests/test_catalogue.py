"""The catalogue of released checkpoints, ``tora download``, and loading a Hub id offline.

The offline tests build their own Hugging Face cache: a tiny random Llama and a byte-level
BPE tokenizer made here (nothing is downloaded), laid out as
``models--org--name/{blobs,snapshots/<commit>,refs/main}``, then loaded with
``HF_HUB_OFFLINE=1`` while sockets refuse to connect.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from langchain_tora.models.catalogue import (
    CATALOGUE,
    RESULT_COLUMNS,
    SOURCES,
    download_checkpoint,
    download_patterns,
    get_checkpoint,
    resolve_repo_id,
)

REPO_ID = "tora-tests/tiny-llama"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

# The numbers of the issue (the released model cards' text): GSM8k and MATH.
EXPECTED_GSM8K_MATH = {
    "tora-7b": (68.8, 40.1),
    "tora-13b": (72.7, 43.0),
    "tora-70b": (84.3, 49.7),
    "tora-code-7b": (72.6, 44.6),
    "tora-code-13b": (75.8, 48.1),
    "tora-code-34b": (80.7, 50.8),
}


# --------------------------------------------------------------------------- the catalogue


def test_six_released_checkpoints_with_their_facts():
    assert [c.repo_id for c in CATALOGUE] == [
        "llm-agents/tora-7b-v1.0",
        "llm-agents/tora-13b-v1.0",
        "llm-agents/tora-70b-v1.0",
        "llm-agents/tora-code-7b-v1.0",
        "llm-agents/tora-code-13b-v1.0",
        "llm-agents/tora-code-34b-v1.0",
    ]
    for ckpt in CATALOGUE:
        assert ckpt.license == "llama2"
        assert ckpt.prompt_format == "tora"
        assert ckpt.prompt_template == "<|user|>\n{question}\n<|assistant|>\n"
        assert ckpt.size == ckpt.name.rsplit("-", 1)[1].upper()
        if ckpt.family == "ToRA-Code":
            assert ckpt.base_model == f"codellama/CodeLlama-{ckpt.size.lower()}-Python-hf"
        else:
            assert ckpt.base_model == f"meta-llama/Llama-2-{ckpt.size.lower()}-hf"
        assert ckpt.learning_rate == (1e-5 if ckpt.size in ("34B", "70B") else 2e-5)


def test_published_numbers_and_their_sources():
    for ckpt in CATALOGUE:
        assert tuple(ckpt.paper_results) == RESULT_COLUMNS
        gsm8k, math = EXPECTED_GSM8K_MATH[ckpt.name]
        assert (ckpt.paper_results["gsm8k"], ckpt.paper_results["math"]) == (gsm8k, math)
        for column, value in ckpt.paper_results.items():
            if value is None:
                assert column not in ckpt.verified_results()
            else:
                assert 0 < value < 100
                assert ckpt.sources[column] in SOURCES
    assert get_checkpoint("tora-70b").paper_results["tabmwp"] == 74.0
    assert [c.paper_results["avg"] for c in CATALOGUE] == [62.4, 65.9, 76.9, 66.5, 71.3, 74.8]
    # Unverified columns stay None rather than guessed.
    assert get_checkpoint("tora-code-34b").paper_results["svamp"] is None
    assert "51.0" in get_checkpoint("tora-code-34b").note


@pytest.mark.parametrize(
    "alias",
    [
        "tora-code-7b",
        "TORA-CODE-7B",
        "ToRA-Code-7B",
        "llm-agents/tora-code-7b-v1.0",
        "tora_code_7b",
    ],
)
def test_aliases_find_the_checkpoint(alias):
    assert get_checkpoint(alias).repo_id == "llm-agents/tora-code-7b-v1.0"
    assert resolve_repo_id(alias) == "llm-agents/tora-code-7b-v1.0"


def test_unknown_names_and_paths_are_left_alone(tmp_path, monkeypatch):
    with pytest.raises(KeyError, match="known: tora-7b"):
        get_checkpoint("tora-9b")
    assert resolve_repo_id("org/other-model") == "org/other-model"
    assert resolve_repo_id("tiny-tora") == "tiny-tora"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tora-7b").mkdir()  # a local folder with a catalogue name wins
    assert resolve_repo_id("tora-7b") == "tora-7b"


def test_download_patterns_pick_one_weight_format():
    assert download_patterns(["config.json", "model.safetensors", "pytorch_model.bin"])[-1] == (
        "*.safetensors"
    )
    assert download_patterns(["config.json", "pytorch_model-00001-of-00002.bin"])[-1] == "*.bin"
    assert download_patterns([])[:3] == ["*.json", "tokenizer*", "*.model"]


# --------------------------------------------------------------------------- a Hub cache


def _tiny_model_folder(folder: Path) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["<|user|>\nWhat is 2 + 3?\n<|assistant|>\n```python\nprint(2 + 3)\n```\n"],
        trainers.BpeTrainer(
            vocab_size=280,
            special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _as_hub_cache(model_dir: Path, cache: Path, repo_id: str, commit: str) -> Path:
    """Lay a model folder out as the Hub cache does: blobs, a snapshot of links, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    blobs, snapshot = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in sorted(model_dir.iterdir()):
        data = path.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> tuple[Path, Path]:
    """(cache root, the saved model folder) holding REPO_ID at COMMIT."""
    root = tmp_path_factory.mktemp("hub")
    model_dir = _tiny_model_folder(root / "saved")
    _as_hub_cache(model_dir, root / "cache", REPO_ID, COMMIT)
    return root / "cache", model_dir


@pytest.fixture
def offline_hub(hub_cache, monkeypatch):
    """HF_HUB_OFFLINE=1 on the test cache, and no socket may connect."""
    import huggingface_hub.constants as constants

    cache, _ = hub_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads these at import time: patch the module constants too.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while offline: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return cache


def test_from_pretrained_loads_a_hub_id_from_the_cache_offline(offline_hub, hub_cache):
    torch = pytest.importorskip("torch")
    from huggingface_hub import try_to_load_from_cache
    from safetensors.torch import load_file

    from langchain_tora import ToRAChain

    cached = try_to_load_from_cache(REPO_ID, "config.json")
    assert isinstance(cached, str) and cached.startswith(str(offline_hub))

    chain = ToRAChain.from_pretrained(
        REPO_ID,
        llm_kwargs={"device": "cpu", "torch_dtype": "float32"},
        max_tokens_per_round=6,
        max_tool_calls=1,
    )
    assert chain.prompt_format.name == "tora"
    out = chain.invoke("What is 2 + 3?")
    assert out["stop_reason"] in ("answer", "max_tool_calls", "empty_generation")
    assert isinstance(out["trajectory"], str) and out["steps"]
    assert out["usage"]["model_calls"] >= 1

    # The weights are the ones saved into the test cache, not anything else.
    _, model_dir = hub_cache
    saved = load_file(model_dir / "model.safetensors")
    loaded = chain.llm.model.state_dict()
    name = "model.embed_tokens.weight"
    assert torch.equal(loaded[name], saved[name])


def test_from_pretrained_offline_without_the_model_names_the_fix(offline_hub):
    from langchain_tora import ToRAChain

    chain = ToRAChain.from_pretrained("tora-tests/not-cached", llm_kwargs={"device": "cpu"})
    with pytest.raises(OSError, match="not in the Hugging Face cache"):
        chain.llm.load()


def test_download_offline_returns_the_cached_snapshot(offline_hub):
    path = download_checkpoint(REPO_ID)
    assert path == offline_hub / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / COMMIT
    assert (path / "config.json").is_file()
    with pytest.raises(OSError, match="tora download tora-code-7b"):
        download_checkpoint("tora-code-7b")


def test_tora_download_command_offline(offline_hub, capsys):
    from langchain_tora.cli import main

    assert main(["download", REPO_ID]) == 0
    assert capsys.readouterr().out.strip().endswith(COMMIT)
    assert main(["download", "tora-code-34b"]) == 2
    assert "llm-agents/tora-code-34b-v1.0" in capsys.readouterr().err


def test_download_online_fetches_configs_tokenizer_and_one_weight_format(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    calls: list[dict[str, Any]] = []

    def fake_snapshot_download(repo_id: str, **kwargs: Any) -> str:
        calls.append({"repo_id": repo_id, **kwargs})
        return str(tmp_path)

    class FakeApi:
        def list_repo_files(self, repo_id: str, **kwargs: Any) -> list[str]:
            return ["config.json", "pytorch_model-00001-of-00002.bin", "tokenizer.model"]

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert download_checkpoint("tora-code-7b", api=FakeApi()) == tmp_path
    assert calls[-1]["repo_id"] == "llm-agents/tora-code-7b-v1.0"
    assert calls[-1]["allow_patterns"] == ["*.json", "tokenizer*", "*.model", "*.bin"]
    assert calls[-1]["local_files_only"] is False

    download_checkpoint("org/any", allow_patterns=["*.json"])  # explicit patterns: no listing
    assert calls[-1]["allow_patterns"] == ["*.json"]


def test_cli_maps_catalogue_names_for_local_models(monkeypatch):
    import argparse

    from langchain_tora import ToRAChain
    from langchain_tora.cli import make_chain

    seen: dict[str, Any] = {}

    def fake_from_pretrained(model_id: str, **kwargs: Any) -> str:
        seen["model_id"] = model_id
        return "chain"

    monkeypatch.setattr(ToRAChain, "from_pretrained", staticmethod(fake_from_pretrained))
    args = argparse.Namespace(
        model="tora-code-34b", prompt="auto", max_tool_calls=4, device="cpu", temperature=None
    )
    assert make_chain(args, interpreter=None) == "chain"  # type: ignore[arg-type]
    assert seen["model_id"] == "llm-agents/tora-code-34b-v1.0"
