"""Generated model cards (metadata round trip) and ``tora push`` (plan, dry run, one upload).

No network: pushes go to a fake ``HfApi`` that records its calls; real pushes are in
``integration_tests/test_hub.py``.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
pytest.importorskip("jinja2")

from huggingface_hub import ModelCard  # noqa: E402

import hub_cards.push as push_module  # noqa: E402
from hub_cards import (  # noqa: E402
    PushError,
    card_for_checkpoint,
    card_for_run,
    eval_results,
    plan_push,
    push_to_hub,
    read_metrics,
    redact,
    spec_for_run,
    write_catalogue_cards,
)
from langchain_tora.cli import main  # noqa: E402
from langchain_tora.models.catalogue import CATALOGUE  # noqa: E402

SECRET = "hf_TestSecretTokenAbCdEf0123456789"

METRICS = {
    "run": {"model": "runs/my-7b/final", "samples": 1},
    "grading": "strict",
    "samples": 1,
    "datasets": {
        "gsm8k": {"accuracy": 71.9, "n": 1319, "correct": 948, "accuracy_strict": 71.9},
        "math": {"accuracy": 44.1, "n": 5000, "correct": 2205},
        "svamp": {"accuracy": 70.2, "n": 1000},
        "singleeq": {"accuracy": 90.0, "n": 508},
        "singleop": {"accuracy": 92.0, "n": 562},
        "addsub": {"accuracy": 88.0, "n": 395},
        "multiarith": {"accuracy": 98.0, "n": 600},
    },
    "paper_average": {"gsm8k": 71.9, "math": 44.1, "svamp": 70.2, "mawps": 92.0, "avg": 69.55},
}

SUMMARY = {
    "config": {
        "model_name_or_path": "codellama/CodeLlama-7b-Python-hf",
        "data": "runs/data/tora_corpus.jsonl",
        "learning_rate": 2e-5,
        "global_batch_size": 128,
        "per_device_batch_size": 4,
        "num_epochs": 3,
        "warmup_ratio": 0.03,
        "lr_scheduler_type": "linear",
        "max_length": 2048,
        "mask_outputs": True,
        "bf16": True,
        "weight_decay": 0.0,
        "seed": 42,
    },
    "world_size": 8,
    "gradient_accumulation_steps": 4,
    "global_steps": 375,
    "epochs": 3.0,
    "train_loss": 0.3412,
    "final_loss": 0.2011,
    "train_seconds": 7200.0,
    "tokens_per_second": 5400.0,
    "corpus": {"rows": 16000, "kept": 15990, "tokens": 9_000_000, "supervised_tokens": 5_000_000},
    "parameters": 6_738_546_688,
    "versions": {"torch": "2.5.1", "transformers": "4.46.0"},
}


# --------------------------------------------------------------------------- cards


@pytest.mark.parametrize("ckpt", CATALOGUE, ids=lambda c: c.name)
def test_catalogue_cards_carry_the_catalogue_and_round_trip(ckpt):
    card = card_for_checkpoint(ckpt.name)
    again = ModelCard(str(card))  # what the Hub parses from README.md
    data = again.data
    assert data.base_model == ckpt.base_model
    assert data.license == "llama2"
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "text-generation"
    assert "tora" in data.tags and "math" in data.tags
    assert data.datasets == ["openai/gsm8k", "DigitalLearningGmbH/MATH-lighteval"]
    assert data.model_name == ckpt.title
    expected = {k: v for k, v in ckpt.verified_results().items() if k != "avg"}
    got = {r.dataset_name: r.metric_value for r in data.eval_results}
    assert got == {
        {"gsm8k": "GSM8k", "math": "MATH", "tabmwp": "TabMWP"}[k]: v for k, v in expected.items()
    }
    for result in data.eval_results:
        assert result.task_type == "text-generation"
        assert result.metric_type == "accuracy"
        assert result.source_url  # every published number says where it is from
    assert data.eval_results == card.data.eval_results
    text = str(card)
    assert "<|user|>\n{question}\n<|assistant|>\n" in text
    assert f'ToRAChain.from_pretrained("{ckpt.repo_id}"' in text
    assert f"vllm serve {ckpt.repo_id} --dtype bfloat16" in text
    assert "| GSM8k | MATH | GSM-Hard | SVAMP | TabMWP | ASDiv | MAWPS | AVG |" in text
    assert f"{ckpt.learning_rate:g}" in text


def test_tora_code_34b_card_results():
    data = ModelCard(str(card_for_checkpoint("llm-agents/tora-code-34b-v1.0"))).data
    by_type = {r.dataset_type: r.metric_value for r in data.eval_results}
    assert by_type == {"openai/gsm8k": 80.7, "DigitalLearningGmbH/MATH-lighteval": 50.8}
    assert "| 80.7 | 50.8 | – | – | – | – | – | 74.8 |" in str(card_for_checkpoint("tora-code-34b"))


def test_run_card_from_summary_and_metrics_round_trips(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "training_summary.json").write_text(json.dumps(SUMMARY))
    card = card_for_run(
        "me/tora-code-7b-repro",
        summary=tmp_path / "training_summary.json",
        metrics=tmp_path / "metrics.json",
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")

    read_back = {r.dataset_type: r.metric_value for r in loaded.data.eval_results}
    evaluated = {
        "openai/gsm8k": 71.9,
        "DigitalLearningGmbH/MATH-lighteval": 44.1,
        "tongyx361/svamp": 70.2,
        "singleeq": 90.0,
        "singleop": 92.0,
        "addsub": 88.0,
        "multiarith": 98.0,
    }
    assert read_back == evaluated  # exactly the evaluated datasets: no derived MAWPS, no AVG
    assert loaded.data.eval_results == eval_results(
        spec_for_run("me/tora-code-7b-repro", summary=SUMMARY, metrics=METRICS)
    )
    assert {r.metric_name for r in loaded.data.eval_results} == {"accuracy (strict grading)"}
    assert loaded.data.base_model == "codellama/CodeLlama-7b-Python-hf"
    assert loaded.data.license == "llama2"
    assert loaded.data.model_name == "tora-code-7b-repro"
    text = loaded.text
    assert "| GSM8k | MATH | SVAMP | MAWPS |" in text  # MAWPS from its four subsets
    assert "| 71.9 | 44.1 | 70.2 | 92.0 |" in text
    assert "| Learning rate | 2e-05, linear schedule, 3% warmup |" in text
    assert "128 sequences (8 processes, 4 per device, 4 accumulation steps)" in text
    assert "| Parameters | 6.7B |" in text


def test_run_card_without_metrics_has_no_model_index():
    card = card_for_run("me/m", summary={"config": {"model_config": "cfg.json"}})
    assert card.data.eval_results is None
    assert "No evaluation results yet" in str(card)
    assert card.data.base_model is None and card.data.license is None


def test_metrics_reader_is_tolerant():
    assert read_metrics({"datasets": {"GSM8k": 80.7, "gsm_hard": {"acc": 60.0}}}).accuracies == {
        "gsm8k": 80.7,
        "gsm-hard": 60.0,
    }
    m = read_metrics({"math": {"correct": 40, "n": 80}, "avg": 1.0, "grading": "tora_compatible"})
    assert (m.accuracies, m.counts, m.grading) == ({"math": 50.0}, {"math": 80}, "tora_compatible")
    assert read_metrics({"scale": "fraction", "svamp": 0.5}).accuracies == {"svamp": 50.0}
    assert read_metrics({"datasets": {"gsm8k": {"accuracy": None}, "math": 1}}).accuracies == {
        "math": 1.0
    }
    full = read_metrics(
        {c: 50.0 for c in ("gsm8k", "math", "gsm-hard", "svamp", "tabmwp")}
        | {"asdiv": 60.0, "mawps": 85.0}
    )
    assert full.table()["avg"] == pytest.approx((5 * 50 + 60 + 85) / 7, abs=1e-3)
    with pytest.raises(ValueError, match="no dataset accuracies"):
        read_metrics({"datasets": {}})
    with pytest.raises(ValueError, match="JSON object"):
        read_metrics([1, 2])  # type: ignore[arg-type]


def test_write_catalogue_cards_and_cli(tmp_path, capsys):
    paths = write_catalogue_cards(tmp_path / "a")
    assert sorted(p.parent.name for p in paths) == sorted(c.name for c in CATALOGUE)
    assert main(["card", "all", "--output", str(tmp_path / "b")]) == 0
    assert len(capsys.readouterr().out.split()) == 6
    assert main(["card", "ToRA-Code-34B"]) == 0
    assert capsys.readouterr().out.startswith("---\nbase_model: codellama/CodeLlama-34b-Python-hf")
    assert main(["card", "tora-9b"]) == 2
    assert "not a released ToRA checkpoint" in capsys.readouterr().err
    assert main(["card", "--repo-id", "me/m", "--metrics", str(_write(tmp_path, METRICS))]) == 0
    assert "model-index" in capsys.readouterr().out


def _write(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "metrics.json"
    path.write_text(json.dumps(data))
    return path


# --------------------------------------------------------------------------- push


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A small model folder as save_pretrained writes it, plus things that must not go up."""
    from safetensors.numpy import save_file

    np = pytest.importorskip("numpy")
    folder = tmp_path / "final"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": 2}))
    save_file({"lm_head.weight": np.zeros((4, 8), dtype=np.float32)}, folder / "model.safetensors")
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    (folder / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>"}))
    (folder / "training_summary.json").write_text(json.dumps(SUMMARY))
    (folder / "README.md").write_text("an old card that must not be uploaded")
    (folder / "optimizer.pt").write_bytes(b"\0" * 64)
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


def test_plan_lists_weights_tokenizer_and_card(model_dir):
    card = card_for_run("me/m", summary=SUMMARY, metrics=METRICS)
    plan = plan_push(model_dir, "me/m", card)
    kinds = {f.path_in_repo: f.kind for f in plan.files}
    assert kinds == {
        "README.md": "model card (generated)",
        "config.json": "config",
        "generation_config.json": "config",
        "model.safetensors": "weights",
        "special_tokens_map.json": "tokenizer",
        "tokenizer.json": "tokenizer",
        "tokenizer_config.json": "tokenizer",
        "training_summary.json": "training record",
    }
    sizes = {f.path_in_repo: f.size for f in plan.files}
    assert sizes["model.safetensors"] == (model_dir / "model.safetensors").stat().st_size
    assert sizes["README.md"] == len(str(card).encode())
    assert plan.total_size == sum(sizes.values())
    assert plan.card_text == str(card)


def test_plan_refuses_incomplete_folders(model_dir):
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="weights"):
        plan_push(model_dir, "me/m", "card")
    with pytest.raises(ValueError, match="namespace/name"):
        plan_push(model_dir, "just-a-name", "card")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plan_push(model_dir / "nope", "me/m", "card")


@pytest.fixture
def no_network_no_token(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access during a dry run")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: pytest.fail("token looked up"))


def test_dry_run_lists_paths_sizes_and_shows_the_card(
    model_dir, tmp_path, capsys, no_network_no_token
):
    metrics = _write(tmp_path, METRICS)
    code = main(
        ["push", str(model_dir), "me/tora-code-7b-repro", "--metrics", str(metrics), "--dry-run"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "dry run: nothing is uploaded" in out
    assert "model repo me/tora-code-7b-repro (public): 8 files" in out
    weights = (model_dir / "model.safetensors").stat().st_size
    assert any(
        line.split()[:3] == ["model.safetensors", str(weights), "B"] and "weights" in line
        for line in out.splitlines()
    )
    for name in ("tokenizer.json", "tokenizer_config.json", "README.md", "config.json"):
        assert f"  {name}" in out
    assert "optimizer.pt" not in out and "checkpoint-10" not in out
    assert "----- README.md -----" in out
    assert "value: 71.9" in out  # the card, with its model-index
    assert "| Base model | codellama/CodeLlama-7b-Python-hf |" in out  # from the folder's summary


class FakeApi:
    """Records create_repo / upload_folder; captures the staged folder during the upload."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with = fail_with
        self.staged: dict[str, bytes] = {}

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> str:
        self.calls.append(("upload_folder", kwargs))
        if self.fail_with is not None:
            logging.getLogger("huggingface_hub.hf_api").warning(
                "retrying with token %s", kwargs["token"]
            )
            raise self.fail_with
        folder = Path(kwargs["folder_path"])
        self.staged = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file()
        }
        return "commit"


def test_push_creates_the_repo_and_uploads_once(model_dir, monkeypatch, capsys):
    api = FakeApi()
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr(push_module, "_default_api", lambda token: api)
    code = main(["push", str(model_dir), "me/tora-code-7b-repro", "--private"])
    assert code == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "https://huggingface.co/me/tora-code-7b-repro"
    assert SECRET not in captured.out + captured.err

    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    create, upload = api.calls[0][1], api.calls[1][1]
    assert create == {
        "repo_id": "me/tora-code-7b-repro",
        "exist_ok": True,
        "private": True,
        "token": SECRET,
    }
    assert upload["repo_id"] == "me/tora-code-7b-repro"
    assert sorted(upload["allow_patterns"]) == sorted(api.staged)
    assert set(api.staged) == {
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "training_summary.json",
    }
    assert api.staged["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
    card = ModelCard(api.staged["README.md"].decode())
    assert card.data.base_model == "codellama/CodeLlama-7b-Python-hf"
    assert (model_dir / "README.md").read_text() == "an old card that must not be uploaded"


def test_push_errors_and_logs_never_show_the_token(model_dir, monkeypatch, capsys, caplog):
    api = FakeApi(fail_with=RuntimeError(f"401 Unauthorized: invalid token {SECRET}"))
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr(push_module, "_default_api", lambda token: api)
    with caplog.at_level(logging.WARNING):
        code = main(["push", str(model_dir), "me/m"])
    assert code == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "hf_***" in err and "401 Unauthorized" in err
    assert SECRET not in caplog.text and "retrying with token hf_***" in caplog.text

    plan = plan_push(model_dir, "me/m", "card")
    with pytest.raises(PushError) as info:
        push_to_hub(plan, token=SECRET, api=api)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_push_without_a_token_says_how_to_get_one(model_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PushError, match="HF_TOKEN"):
        push_to_hub(plan_push(model_dir, "me/m", "card"), api=FakeApi())


def test_redact_hides_token_shapes():
    assert redact(f"a {SECRET} b") == "a hf_*** b"
    assert redact("Bearer abc.def", ["abc.def"]) == "Bearer hf_***"
