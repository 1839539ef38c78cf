"""The Hugging Face Hub for real: a push (``HF_TOKEN``) and a plain download (network).

The push creates a private repository ``<user>/langchain-tora-push-test-<random>``
holding a tiny random model, reads its card back from the Hub and deletes it.  The
download fetches only ``config.json`` of a released checkpoint (no weights).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")


def _tiny_model(folder: Path) -> Path:
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    save_file({"lm_head.weight": np.zeros((4, 8), dtype=np.float32)}, folder / "model.safetensors")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    return folder


def test_push_then_read_the_card_back(hub_token, tmp_path):
    from hub_cards import card_for_run, plan_push, push_to_hub

    api = huggingface_hub.HfApi(token=hub_token)
    user = api.whoami()["name"]
    repo_id = f"{user}/langchain-tora-push-test-{uuid.uuid4().hex[:8]}"
    metrics = {"datasets": {"gsm8k": {"accuracy": 12.5, "n": 8}}, "grading": "strict"}
    card = card_for_run(repo_id, metrics=metrics)
    plan = plan_push(_tiny_model(tmp_path / "m"), repo_id, card, private=True)
    try:
        url = push_to_hub(plan, token=hub_token)
        assert url.rstrip("/").endswith(repo_id)
        files = set(api.list_repo_files(repo_id))
        assert {"README.md", "config.json", "model.safetensors", "tokenizer_config.json"} <= files
        commits = api.list_repo_commits(repo_id)
        assert len(commits) == 2  # the initial commit, then weights + tokenizer + card in one
        remote = huggingface_hub.ModelCard.load(repo_id, token=hub_token)
        assert remote.data.eval_results == card.data.eval_results
    finally:
        api.delete_repo(repo_id, missing_ok=True)


def test_download_only_the_config_of_a_released_checkpoint(hub_online, tmp_path):
    from langchain_tora.models.catalogue import download_checkpoint

    path = download_checkpoint("tora-code-7b", allow_patterns=["config.json"], cache_dir=tmp_path)
    assert json.loads((path / "config.json").read_text())["model_type"] == "llama"
    assert [p.name for p in path.iterdir()] == ["config.json"]
