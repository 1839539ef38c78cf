"""Imitation learning on ToRA trajectories (transformers ``Trainer``, Accelerate + DeepSpeed).

Read top to bottom: the config, the data, the model, the trainer, the save.

Run it with a recipe (a YAML file of :class:`ToRATrainConfig` fields) under
``accelerate launch``; any field can be overridden on the command line::

    accelerate launch --config_file train/configs/zero3.yaml -m train.sft \\
        --recipe train/recipes/tora-code-7b.yaml --data path/to/tora_corpus.jsonl

    # one CPU process, DeepSpeed's CPU accelerator (what CI runs on a tiny model):
    accelerate launch --config_file train/configs/zero3_cpu.yaml -m train.sft \\
        --recipe train/recipes/tiny-smoke.yaml

Why ``Trainer`` and not a hand-written loop: it already does gradient accumulation,
the DeepSpeed/Accelerate plumbing (``"auto"`` values filled from these arguments),
checkpoints that resume exactly, TensorBoard logging and the progress bar.  The
labels are ours (the prompt and the interpreter outputs are masked in
:mod:`train.corpus`), so the rows go in pre-tokenized with a collator that pads
labels with ``-100``; TRL's ``SFTTrainer`` would rebuild labels from its own masks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("train.sft")


# --------------------------------------------------------------------------- config


@dataclass
class ToRATrainConfig:
    """Everything a training run needs; recipes in ``train/recipes/`` set these fields.

    The paper's settings (ToRA, Section 3): lr 2e-5 (1e-5 for 34B and 70B), global
    batch 128, 3 epochs, linear schedule with 3% warmup, bf16, max length 2048,
    weight decay 0.
    """

    model_name_or_path: str | None = None
    """Base model (path or Hub id), e.g. ``codellama/CodeLlama-7b-Python-hf``."""
    model_config: str | None = None
    """Instead of a base model: a ``config.json`` to build a randomly initialised model from."""
    tokenizer: str | None = None
    """Tokenizer path or id (default: the base model's)."""
    data: str = ""
    """ToRA records: a jsonl file, a directory of them, or a Hub dataset id."""
    output_dir: str = "runs/tora"
    """Where checkpoints, logs, the loss curve and the final model go."""
    max_length: int = 2048
    mask_outputs: bool = True
    """Mask interpreter outputs from the loss (the paper); False trains on them (the released code)."""
    add_pad_token: bool = True
    """Add a ``<pad>`` token when the tokenizer has none (the released checkpoints: vocabulary 32001)."""
    learning_rate: float = 2e-5
    global_batch_size: int = 128
    """Sequences per optimizer step, whatever the number of processes."""
    per_device_batch_size: int = 4
    num_epochs: float = 3.0
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: train ``num_epochs``)."""
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "linear"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = True
    gradient_checkpointing: bool = True
    logging_steps: int = 1
    save_steps: int = 500
    save_total_limit: int = 2
    seed: int = 42
    report_to: str = "tensorboard"
    dataloader_num_workers: int = 0
    use_cpu: bool = False
    """Train on the CPU (tiny models, CI)."""
    torch_threads: int | None = None
    """Threads for CPU matrix work (default: torch's choice)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further ``TrainingArguments`` fields, passed as they are."""

    def gradient_accumulation(self, world_size: int) -> int:
        """Steps of accumulation that make ``global_batch_size`` on ``world_size`` processes."""
        per_step = self.per_device_batch_size * world_size
        if self.global_batch_size % per_step:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} is not a multiple of "
                f"per_device_batch_size {self.per_device_batch_size} x {world_size} processes; "
                "change per_device_batch_size"
            )
        return self.global_batch_size // per_step


def load_config(argv: list[str]) -> ToRATrainConfig:
    """``--recipe FILE`` (YAML) then ``--field value`` overrides."""
    import yaml

    values: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(ToRATrainConfig)}
    args = list(argv)
    if "--recipe" in args:
        i = args.index("--recipe")
        recipe = Path(args[i + 1])
        if not recipe.is_file():
            raise FileNotFoundError(f"recipe {recipe} not found (see train/recipes/)")
        values.update(yaml.safe_load(recipe.read_text()) or {})
        del args[i : i + 2]
    while args:
        key = args.pop(0)
        if not key.startswith("--") or not args:
            raise ValueError(f"expected --field value pairs, got {key!r}")
        name = key[2:].replace("-", "_")
        if name not in known:
            raise ValueError(f"unknown setting {key}; settings: {', '.join(sorted(known))}")
        values[name] = yaml.safe_load(args.pop(0))
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings in recipe: {sorted(unknown)}")
    config = ToRATrainConfig(**{k: _coerce(known[k], v) for k, v in values.items()})
    if not config.data:
        raise ValueError("no training data: set `data` in the recipe or pass --data FILE")
    if not (config.model_name_or_path or config.model_config):
        raise ValueError("set model_name_or_path (a base model) or model_config (a config.json)")
    return config


def _coerce(spec: dataclasses.Field[Any], value: Any) -> Any:
    """YAML reads ``2e-5`` as a string (YAML 1.1 floats need a dot): convert by field type."""
    kind = str(spec.type)
    try:
        if kind == "float" and isinstance(value, str | int):
            return float(value)
        if kind == "int" and isinstance(value, str):
            return int(value)
        if kind == "bool" and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
    except ValueError:
        raise ValueError(f"setting {spec.name} must be a {kind}, got {value!r}") from None
    return value


# ---------------------------------------------------------------------- model + data


def load_tokenizer(config: ToRATrainConfig) -> Any:
    from transformers import AutoTokenizer

    source = config.tokenizer or config.model_name_or_path
    if source is None:
        raise ValueError("model_config needs a tokenizer: set `tokenizer`")
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None and config.add_pad_token:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    return tokenizer


def load_model(config: ToRATrainConfig, tokenizer: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.bfloat16 if config.bf16 else torch.float32
    if config.model_name_or_path:
        model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=dtype)
    else:
        assert config.model_config is not None
        model_config = AutoConfig.from_pretrained(config.model_config)
        torch.manual_seed(config.seed)
        model = AutoModelForCausalLM.from_config(model_config, dtype=dtype)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model


class _Rows:
    """A map-style dataset over pre-tokenized rows."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


# -------------------------------------------------------------------------- callbacks


def _loss_curve_callback(output_dir: Path) -> Any:
    from transformers import TrainerCallback

    class LossCurve(TrainerCallback):
        """Writes ``loss_curve.png`` (and its data) beside the TensorBoard logs."""

        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if (
                state.is_world_process_zero
                and state.global_step % max(1, args.logging_steps * 20) == 0
            ):
                write_loss_curve(state.log_history, output_dir)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                write_loss_curve(state.log_history, output_dir)

    return LossCurve()


TRAIN_SECONDS_FILE = "train_seconds.json"
"""Written into each checkpoint: training seconds up to it, over every session."""


def _train_seconds_callback(before: float) -> Any:
    """Records, in each checkpoint, ``before`` plus this session's seconds so far."""
    from transformers import TrainerCallback

    class TrainSeconds(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.perf_counter()

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and checkpoint.is_dir():
                seconds = before + time.perf_counter() - self.start
                (checkpoint / TRAIN_SECONDS_FILE).write_text(
                    json.dumps({"train_seconds": round(seconds, 2)})
                )

    return TrainSeconds()


def write_loss_curve(log_history: list[dict[str, Any]], output_dir: Path) -> Path | None:
    """Plot training loss against step as ``output_dir/loss_curve.png``."""
    points = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir.mkdir(parents=True, exist_ok=True)
    steps, losses = zip(*points, strict=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, lw=1.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title("ToRA imitation learning")
    fig.tight_layout()
    path = output_dir / "loss_curve.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    (output_dir / "loss_curve.json").write_text(
        json.dumps([{"step": s, "loss": v} for s, v in points])
    )
    return path


# ------------------------------------------------------------------------------ train


def train(config: ToRATrainConfig) -> dict[str, Any]:
    """Run imitation learning; returns the training summary (also written as JSON)."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from train.corpus import load_records, tokenize_corpus

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    output_dir = Path(config.output_dir)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))

    # TensorBoard logs go beside the loss curve (transformers reads this variable).
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(output_dir / "runs"))
    tokenizer = load_tokenizer(config)
    records = load_records(config.data)
    rows, stats = tokenize_corpus(
        records, tokenizer, max_length=config.max_length, mask_outputs=config.mask_outputs
    )
    if not rows:
        raise ValueError(f"no trainable rows in {config.data}")
    logger.info(
        "corpus: %d rows kept of %d, %d tokens (%d supervised)",
        stats.kept,
        stats.rows,
        stats.tokens,
        stats.supervised_tokens,
    )

    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation(world_size),
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        bf16=config.bf16,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        report_to=[config.report_to] if config.report_to and config.report_to != "none" else [],
        dataloader_num_workers=config.dataloader_num_workers,
        remove_unused_columns=False,
        use_cpu=config.use_cpu,
        include_num_input_tokens_seen=True,
        **config.extra,
    )
    model = load_model(config, tokenizer)  # after TrainingArguments, so ZeRO-3 init applies
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Rows(rows),
        data_collator=DataCollatorForSeq2Seq(
            tokenizer, padding=True, label_pad_token_id=-100, pad_to_multiple_of=8
        ),
        processing_class=tokenizer,
        callbacks=[_loss_curve_callback(output_dir)],
    )
    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    tokens_before = 0  # tokens seen before this session, so that the rate is this session's
    seconds_before = 0.0  # training seconds of earlier sessions, up to the checkpoint
    if last:
        logger.info("resuming from %s", last)
        state = Path(last) / "trainer_state.json"
        if state.is_file():
            tokens_before = json.loads(state.read_text()).get("num_input_tokens_seen", 0) or 0
        if (Path(last) / TRAIN_SECONDS_FILE).is_file():
            seconds_before = json.loads((Path(last) / TRAIN_SECONDS_FILE).read_text())[
                "train_seconds"
            ]
    trainer.add_callback(_train_seconds_callback(seconds_before))
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - start

    final_dir = output_dir / "final"
    trainer.save_model(str(final_dir))  # consolidated 16-bit weights under ZeRO-3 (see ds config)
    summary: dict[str, Any] = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(final_dir))
        tokens_seen = trainer.state.num_input_tokens_seen
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        summary = {
            "config": dataclasses.asdict(config),
            "world_size": world_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "global_steps": trainer.state.global_step,
            "epochs": trainer.state.epoch,
            "resumed_from": last,
            "train_seconds": round(seconds_before + seconds, 2),  # every session's
            "session_seconds": round(seconds, 2),  # this session's (tokens_per_second's)
            "train_loss": result.training_loss,
            "final_loss": losses[-1] if losses else None,
            "tokens_seen": tokens_seen,
            "tokens_per_second": round((tokens_seen - tokens_before) / seconds, 1)
            if seconds and tokens_seen
            else None,
            "corpus": {
                k: v for k, v in dataclasses.asdict(stats).items() if k != "examples_dropped"
            },
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer),
            "versions": _versions(),
        }
        (final_dir / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        write_loss_curve(trainer.state.log_history, output_dir)
        if math.isnan(result.training_loss):
            logger.warning("training loss is NaN")
    return summary


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "accelerate", "deepspeed", "langchain-tora"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = load_config(sys.argv[1:] if argv is None else argv)
    summary = train(config)
    if summary:
        print(
            json.dumps(
                {
                    k: summary[k]
                    for k in (
                        "global_steps",
                        "train_loss",
                        "final_loss",
                        "train_seconds",
                        "tokens_per_second",
                    )
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
