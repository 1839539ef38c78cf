"""Training: corpus masks, config, overfitting, resume, and DeepSpeed ZeRO-3 on one CPU process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from langchain_tora.datasets.synthetic import write_corpus
from langchain_tora.trajectory import output_block, tora_prompt
from train.corpus import (
    IGNORE_INDEX,
    ToRARecord,
    load_records,
    supervised_text,
    tokenize_corpus,
    tokenize_record,
)
from train.sft import ToRATrainConfig, load_config, train
from train.tiny import build_tokenizer, write_model_config

REPO = Path(__file__).resolve().parents[1]
TRAJ = (
    "Add them.\n```python\nprint(1234 + 4321)\n```"
    + output_block("5555")
    + "The answer is $\\boxed{5555}$."
)


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """A synthetic corpus, a tokenizer trained on it and a tiny Llama config."""
    root = tmp_path_factory.mktemp("tiny")
    write_corpus(root / "train.jsonl", 48, seed=3)
    texts = [r.text() for r in load_records(root / "train.jsonl")] + [ToRARecord("q", TRAJ).text()]
    tokenizer = build_tokenizer(texts, 400, root / "tok")
    sizes = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
    )
    config = write_model_config(root / "cfg", tokenizer, sizes)
    return root, tokenizer, config


def test_supervised_spans_mask_prompt_and_outputs(tiny_assets):
    _, tokenizer, _ = tiny_assets
    record = ToRARecord("What is 1234 + 4321?", TRAJ)
    row = tokenize_record(record, tokenizer, max_length=512)
    assert row is not None
    pieces = supervised_text(row, tokenizer)
    assert pieces == [
        "Add them.\n```python\nprint(1234 + 4321)\n```\n```output",
        "The answer is $\\boxed{5555}$.</s>",
    ]
    assert row["labels"][0] == IGNORE_INDEX  # BOS
    assert tokenizer.decode(row["input_ids"], skip_special_tokens=True) == record.text()
    unmasked = tokenize_record(record, tokenizer, max_length=512, mask_outputs=False)
    assert unmasked is not None
    assert supervised_text(unmasked, tokenizer) == [TRAJ + "</s>"]


def test_prompt_is_the_inference_prompt():
    record = ToRARecord("Q?", "A")
    assert record.text() == tora_prompt("Q?") + "A"


def test_truncation_never_leaves_a_row_without_supervision(tiny_assets):
    _, tokenizer, _ = tiny_assets
    long_question = "How many? " * 200
    rows, stats = tokenize_corpus(
        [ToRARecord(long_question, TRAJ), ToRARecord("short?", TRAJ)], tokenizer, max_length=64
    )
    assert stats.rows == 2 and stats.dropped_no_supervision == 1 and len(rows) == 1
    assert all(len(r["input_ids"]) <= 64 for r in rows)
    assert all(any(label != IGNORE_INDEX for label in r["labels"]) for r in rows)
    cut, stats = tokenize_corpus([ToRARecord("short?", TRAJ * 5)], tokenizer, max_length=40)
    assert stats.truncated == 1 and len(cut[0]["input_ids"]) == 40


def test_records_from_files_and_errors(tmp_path, shared_data):
    examples = load_records(shared_data / "train/tora/examples.jsonl")
    assert len(examples) == 30 and examples[0].trajectory.startswith("```python")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(ValueError, match="one user and one assistant"):
        load_records(bad)
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / "missing.jsonl")


def test_config_recipes_and_overrides(tmp_path):
    for recipe in sorted((REPO / "train/recipes").glob("tora-*.yaml")):
        config = load_config(["--recipe", str(recipe)])
        assert config.global_batch_size == 128 and config.num_epochs == 3
        assert config.max_length == 2048 and config.weight_decay == 0 and config.bf16
        assert config.warmup_ratio == 0.03 and config.lr_scheduler_type == "linear"
        big = "34b" in recipe.name or "70b" in recipe.name
        assert config.learning_rate == (1e-5 if big else 2e-5), recipe.name
        for gpus in (1, 2, 4, 8):
            steps = config.gradient_accumulation(gpus)
            assert steps * config.per_device_batch_size * gpus == 128
    config = load_config(
        ["--recipe", str(REPO / "train/recipes/tora-code-7b.yaml"), "--learning_rate", "1e-4"]
    )
    assert config.learning_rate == 1e-4
    with pytest.raises(ValueError, match="unknown setting --lr"):
        load_config(["--recipe", str(REPO / "train/recipes/tora-code-7b.yaml"), "--lr", "1"])
    with pytest.raises(ValueError, match="not a multiple"):
        ToRATrainConfig(
            data="x", global_batch_size=10, per_device_batch_size=4
        ).gradient_accumulation(1)


def _config(root: Path, config_path: Path, **overrides) -> ToRATrainConfig:
    values = dict(
        model_config=str(config_path),
        tokenizer=str(root / "tok"),
        data=str(root / "train.jsonl"),
        output_dir=str(root / "out"),
        max_length=256,
        learning_rate=3e-3,
        global_batch_size=8,
        per_device_batch_size=8,
        max_steps=4,
        warmup_ratio=0.0,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        logging_steps=1,
        save_steps=2,
        report_to="none",
        torch_threads=1,
    )
    values.update(overrides)
    return ToRATrainConfig(**values)


def test_overfits_a_handful_of_trajectories(tiny_assets, tmp_path):
    root, _, config_path = tiny_assets
    data = tmp_path / "four.jsonl"
    lines = (root / "train.jsonl").read_text().splitlines()[:4]
    data.write_text("\n".join(lines) + "\n")
    summary = train(
        _config(
            root,
            config_path,
            data=str(data),
            output_dir=str(tmp_path / "overfit"),
            per_device_batch_size=4,
            global_batch_size=4,
            max_steps=150,
            learning_rate=1e-2,
            logging_steps=10,
            save_steps=1000,
        )
    )
    assert summary["final_loss"] < 0.1, summary
    assert (tmp_path / "overfit" / "loss_curve.png").is_file()


def test_resumes_from_the_last_checkpoint(tiny_assets, tmp_path):
    root, tokenizer, config_path = tiny_assets
    first = train(_config(root, config_path, output_dir=str(tmp_path / "run"), max_steps=2))
    assert first["global_steps"] == 2 and first["resumed_from"] is None
    saved = json.loads((tmp_path / "run/checkpoint-2/train_seconds.json").read_text())
    assert 0 < saved["train_seconds"] <= first["train_seconds"]
    second = train(_config(root, config_path, output_dir=str(tmp_path / "run"), max_steps=4))
    assert second["resumed_from"].endswith("checkpoint-2")
    assert second["global_steps"] == 4
    # time adds up over the sessions: the first's seconds up to its checkpoint, then these
    assert second["train_seconds"] == pytest.approx(
        saved["train_seconds"] + second["session_seconds"], abs=0.02
    )
    summary = json.loads((tmp_path / "run/final/training_summary.json").read_text())
    assert summary["vocab_size"] == len(tokenizer) and summary["tokens_seen"] > 0


@pytest.mark.slow
def test_deepspeed_zero3_on_one_cpu_process(tiny_assets, tmp_path):
    """accelerate launch + DeepSpeed ZeRO-3 (CPU accelerator), then load and generate."""
    pytest.importorskip("deepspeed")
    root, _, config_path = tiny_assets
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "\n".join(
            f"{k}: {v}"
            for k, v in dict(
                model_config=config_path,
                tokenizer=root / "tok",
                data=root / "train.jsonl",
                output_dir=tmp_path / "ds",
                max_length=256,
                learning_rate=1e-3,
                global_batch_size=8,
                per_device_batch_size=4,
                max_steps=3,
                bf16="false",
                gradient_checkpointing="false",
                use_cpu="true",
                save_steps=100,
                report_to="none",
            ).items()
        )
    )
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO / "train/configs/zero3_cpu.yaml"),
            "-m",
            "train.sft",
            "--recipe",
            str(recipe),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DeepSpeed" in proc.stderr + proc.stdout
    final = tmp_path / "ds" / "final"
    summary = json.loads((final / "training_summary.json").read_text())
    assert summary["global_steps"] == 3 and summary["gradient_accumulation_steps"] == 2
    assert (tmp_path / "ds" / "loss_curve.png").is_file()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(final))
    tokenizer = AutoTokenizer.from_pretrained(str(final))
    inputs = tokenizer(tora_prompt("What is 2 + 3?"), return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5


def test_tiny_recipe_runs_end_to_end_in_miniature(tmp_path):
    """`python -m train.tiny` on a miniature recipe: both variants, the report, the export."""
    import yaml

    from train import tiny

    recipe = yaml.safe_load((REPO / "train/recipes/tiny-tora.yaml").read_text())
    recipe["run_dir"] = str(tmp_path / "run")
    recipe["export_to"] = str(tmp_path / "export")
    recipe["task"].update(train_problems=40, eval_problems=3)
    recipe["tokenizer"] = {"vocab_size": 300, "number_tokens": 100}
    recipe["model"].update(hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    recipe["model"].update(num_attention_heads=2, num_key_value_heads=2)
    recipe["train"].update(max_steps=2, per_device_batch_size=8, global_batch_size=8)
    recipe["train"].update(report_to="none", save_steps=100, logging_steps=1)
    recipe["eval"] = {"max_tokens": 8}  # a random model: keep its answers short
    recipe["continue"] = [  # stages 2 and 3, each from the previous one's weights
        {"train_problems": 16, "train_seed": 3, "train": {"max_steps": 1}},
        {"train_problems": 16, "train_seed": 5, "train": {"max_steps": 1}},
    ]
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))

    assert tiny.main(["--recipe", str(path)]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert set(results) == {"tora", "cot"}
    for res in results.values():
        assert res["problems"] == 3 and res["seen_in_training"] == 0
        assert res["training"]["global_steps"] == 4  # 2 steps from scratch, 1 + 1 continued
        assert res["training"]["stage_steps"] == [2, 1, 1]
    assert results["tora"]["wrong_answers"]["wrong"] == 3 - results["tora"]["correct"]
    table = (tmp_path / "run" / "results.md").read_text()
    assert "tiny-tora" in table and "tiny-cot" in table and "wrong answers" in table
    exported = {p.name for p in (tmp_path / "export").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= exported
    assert {"results.json", "results.png", "loss_curve.png"} <= exported
    assert "not a math model" in (tmp_path / "export" / "README.md").read_text()
    summary = json.loads((tmp_path / "export" / "training_summary.json").read_text())
    assert summary["global_steps"] == 1
    assert [s["global_steps"] for s in summary["earlier_stages"]] == [2, 1]
    assert summary["config"]["model_name_or_path"].endswith("tiny-tora-continued/final")
    assert (tmp_path / "run" / "data" / "continue3-tora.jsonl").is_file()


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ({"train_seed": 3}, "needs train_problems and train_seed"),
        ([{"train_problems": 9, "train_seed": 3}, {"train_problems": 9}], "stage 3 needs"),
        ([{"train_problems": 9, "train_seed": 1}], "repeat"),  # stage 1's seed
    ],
)
def test_continue_stages_need_their_own_fresh_problems(stages, message):
    from train.tiny import continue_stages

    with pytest.raises(ValueError, match=message):
        continue_stages({"task": {"train_seed": 1}, "continue": stages})


def test_wrong_answers_are_split_into_miscopied_numbers_and_the_rest(tmp_path):
    from train.tiny import _miscopied

    question = "Ann has 12 boxes of 30 pens. How many pens?"
    program = 'question = "{}"\nprint(1)'
    rows = [
        {"question": question, "correct": True, "trajectory": program.format(question)},
        {"question": question, "correct": False, "trajectory": program.format(question)},
        {
            "question": question,
            "correct": False,
            "trajectory": program.format(question.replace("30", "35")),
        },
        {"question": question, "correct": False, "trajectory": "The answer is 360."},
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _miscopied(path) == {"wrong": 3, "miscopied": 2, "other": 1}
