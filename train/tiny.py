"""The tiny ToRA model: synthetic arithmetic, trained on CPU with the real pipeline.

One command reproduces the model that ships as the default of ``tora solve``::

    python -m train.tiny --recipe train/recipes/tiny-tora.yaml

Stages (each is skipped when its output exists, so a stopped run resumes):

1. ``data``: a synthetic corpus of arithmetic word problems, solved by a programmatic
   teacher twice: as ToRA trajectories and as chain-of-thought in words
   (:mod:`langchain_tora.datasets.synthetic`);
2. ``tokenizer``: a byte-level BPE tokenizer trained on both corpora (digits split);
3. ``train``: two Llama-architecture models of the same size, trained for the same
   steps with :func:`train.sft.train` (the imitation-learning pipeline), one on each
   corpus;
4. ``eval``: both models on fresh problems (another seed) through
   :class:`~langchain_tora.ToRAChain` and :class:`~langchain_tora.LocalInterpreter`;
5. ``export``: the ToRA model, its tokenizer, a model card and the results into the
   package (``langchain_tora/models/tiny-tora``).

This is a small model for synthetic arithmetic, not a math model: it shows the
paper's central claim in miniature (a model that calls a tool beats one that must
do the arithmetic itself) and lets everything run offline.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from train.sft import ToRATrainConfig, train

logger = logging.getLogger("train.tiny")

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]


def continue_stages(recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe's ``continue`` section as a list of stages after the first.

    ``continue`` is one mapping (stage 2) or a list of them (stages 2, 3, ...); each
    stage starts from the previous stage's weights and trains on fresh problems of
    its own ``train_seed``.

    Example:
        >>> stage_2 = {"train_problems": 70000, "train_seed": 3}
        >>> continue_stages({"task": {"train_seed": 1}, "continue": stage_2})
        [{'train_problems': 70000, 'train_seed': 3}]
    """
    more = recipe.get("continue") or []
    stages = [more] if isinstance(more, dict) else list(more)
    for k, stage in enumerate(stages):
        if not isinstance(stage, dict) or not {"train_problems", "train_seed"} <= set(stage):
            raise ValueError(
                f"continue stage {k + 2} needs train_problems and train_seed "
                "(fresh problems for that stage); see train/recipes/tiny-tora.yaml"
            )
    seeds = [recipe["task"]["train_seed"]] + [st["train_seed"] for st in stages]
    if len(set(seeds)) != len(seeds):
        raise ValueError(
            f"the training stages' train_seed values {seeds} repeat; give each stage its "
            "own seed so that no stage trains on another's problems"
        )
    return stages


def _stage_suffix(k: int) -> str:
    """Folder suffix of continue stage ``k`` (0-based): ``-continued``, ``-continued-3``..."""
    return "-continued" if k == 0 else f"-continued-{k + 2}"


def build_tokenizer(
    texts: list[str], vocab_size: int, out_dir: Path, number_tokens: int = 0
) -> Any:
    """Train a byte-level BPE tokenizer (digits split one by one) and save it.

    With ``number_tokens=N`` the integers ``0 .. N-1`` become whole tokens (matched
    longest first: with ``N=1000``, ``12345`` is ``123`` + ``45``), which a tiny model
    learns to copy sooner than digit strings (on the tiny recipe's task, after 900
    steps: 3 of 100 questions copied exactly with ``N=1000``, none with digits).  The
    catch, measured there: number tokens end up with crowded embeddings (mean cosine
    similarity 0.42, against 0.05 for words), and the model copies them only
    approximately (``31`` becomes ``35``).  The tokenizer adds ``<s>`` in front of every text,
    like Llama's.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
            ),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    if number_tokens:
        fast.add_tokens([str(i) for i in range(number_tokens)])
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return fast


def write_model_config(out_dir: Path, tokenizer: Any, sizes: dict[str, Any]) -> Path:
    """A Llama config for the tiny model, saved as ``out_dir/config.json``."""
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **sizes,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(out_dir))
    return out_dir / "config.json"


def evaluate(
    model_dir: Path,
    eval_file: Path,
    results_file: Path,
    *,
    batch_size: int = 64,
    max_tokens: int = 400,
    device: str = "auto",
) -> dict[str, Any]:
    """Solve the evaluation problems through ToRAChain; rows are appended as they finish.

    ``max_tokens`` bounds each model round (a trajectory of the task is ~250 tokens);
    ``device`` is the model's (``"auto"``: a GPU when there is one, else the CPU).

    A stopped evaluation resumes: problems already in ``results_file`` are not redone.
    """
    from langchain_tora import LocalInterpreter, ToRAChain, math_equal
    from langchain_tora.local_llm import TransformersLLM

    problems = [json.loads(line) for line in eval_file.read_text().splitlines() if line.strip()]
    done: dict[str, dict[str, Any]] = {}
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["question"]] = row
    todo = [p for p in problems if p["question"] not in done]
    llm = TransformersLLM(
        model_id=str(model_dir), device=device, max_tokens=max_tokens, batch_size=batch_size
    )
    start = time.perf_counter()
    with LocalInterpreter() as python, results_file.open("a", encoding="utf-8") as out:
        chain = ToRAChain(
            llm=llm, interpreter=python, prompt="tora", max_tokens_per_round=max_tokens
        )
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            results = chain.batch([p["question"] for p in chunk], return_exceptions=True)
            for p, r in zip(chunk, results, strict=True):
                row = {
                    "question": p["question"],
                    "gold": p["answer"],
                    "prediction": None if isinstance(r, BaseException) else r["answer"],
                    "trajectory": repr(r) if isinstance(r, BaseException) else r["trajectory"],
                    "tool_calls": 0 if isinstance(r, BaseException) else r["tool_calls"],
                }
                row["correct"] = bool(math_equal(row["prediction"], p["answer"]))
                out.write(json.dumps(row) + "\n")
                out.flush()
                done[p["question"]] = row
            logger.info("%s: %d/%d evaluated", model_dir.name, len(done), len(problems))
    rows = [done[p["question"]] for p in problems]
    correct = sum(r["correct"] for r in rows)
    return {
        "problems": len(rows),
        "correct": correct,
        "accuracy": round(100 * correct / len(rows), 2),
        "mean_tool_calls": round(sum(r["tool_calls"] for r in rows) / len(rows), 3),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _unseen_accuracy(results_file: Path, corpora: list[Path]) -> dict[str, Any]:
    """How many eval questions also occur in the training corpus, and the accuracy without them.

    The eval set is drawn with its own seed, but with 100,000 training problems a few
    questions can coincide by chance (same template, wording and numbers).
    """
    from train.corpus import load_records

    seen = {r.question for corpus in corpora for r in load_records(corpus)}
    rows = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
    unseen = [r for r in rows if r["question"] not in seen]
    correct = sum(r["correct"] for r in unseen)
    return {
        "seen_in_training": len(rows) - len(unseen),
        "unseen_correct": correct,
        "unseen_accuracy": round(100 * correct / max(1, len(unseen)), 2),
    }


def _read_stage_summaries(stage_dirs: list[Path]) -> list[dict[str, Any]]:
    """Each training stage's ``final/training_summary.json``, in order."""
    return [json.loads((d / "final" / "training_summary.json").read_text()) for d in stage_dirs]


def _training_summary(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary over the training stages: steps and seconds add up, the rest is the last's."""
    last = summaries[-1]
    summary = {
        "global_steps": sum(s["global_steps"] for s in summaries),
        "train_loss": last["train_loss"],
        "final_loss": last["final_loss"],
        "train_seconds": round(sum(s["train_seconds"] for s in summaries), 2),
        "tokens_per_second": last["tokens_per_second"],
        "parameters": last["parameters"],
    }
    if len(summaries) > 1:
        summary["stage_steps"] = [s["global_steps"] for s in summaries]
    return summary


def _loss_curve_over_stages(
    stage_dirs: list[Path], summaries: list[dict[str, Any]], out_dir: Path
) -> None:
    """``out_dir/loss_curve.png``: the stages' logged losses on one step axis."""
    from train.sft import write_loss_curve

    history: list[dict[str, Any]] = []
    offset = 0
    for stage, summary in zip(stage_dirs, summaries, strict=True):
        curve = stage / "loss_curve.json"
        points = json.loads(curve.read_text()) if curve.exists() else []
        history += [{"step": p["step"] + offset, "loss": p["loss"]} for p in points]
        offset += summary["global_steps"]
    write_loss_curve(history, out_dir)


def _miscopied(results_file: Path) -> dict[str, int]:
    """Wrong ToRA answers whose program copied the question with other numbers in it.

    The teacher's programs start with ``question = "<the question>"`` and read their
    numbers from that string, so a wrong answer has one of two causes: the copy
    (``miscopied``) or the rest of the program (``other``).
    """
    import re

    counts = {"wrong": 0, "miscopied": 0, "other": 0}
    for line in results_file.read_text().splitlines():
        row = json.loads(line) if line.strip() else {"correct": True}
        if row["correct"]:
            continue
        counts["wrong"] += 1
        copy = re.search(r'question = "(.*?)"', row["trajectory"])
        numbers = re.findall(r"\d+", row["question"])
        if copy is None or re.findall(r"\d+", copy.group(1)) != numbers:
            counts["miscopied"] += 1
        else:
            counts["other"] += 1
    return counts


def _write_report(
    run_dir: Path, results: dict[str, dict[str, Any]], recipe: dict[str, Any]
) -> None:
    lines = [
        "| model (same size, same steps) | trained on | solved | accuracy | not in training |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = {"tora": "ToRA trajectories (code + output)", "cot": "chain-of-thought in words"}
    for variant, res in results.items():
        lines.append(
            f"| tiny-{variant} | {names[variant]} | {res['correct']}/{res['problems']} "
            f"| {res['accuracy']:.1f}% | {res['unseen_correct']}/"
            f"{res['problems'] - res['seen_in_training']} ({res['unseen_accuracy']:.1f}%) |"
        )
    if "wrong_answers" in results.get("tora", {}):
        kinds = results["tora"]["wrong_answers"]
        lines.append(
            f"\nOf tiny-tora's {kinds['wrong']} wrong answers, {kinds['miscopied']} come from "
            "a number copied wrongly from the question into the program (or no copy at all), "
            f"{kinds['other']} from the rest of the program."
        )
    table = "\n".join(lines)
    (run_dir / "results.md").write_text(table + "\n")
    (run_dir / "results.json").write_text(
        json.dumps({"recipe": recipe, "results": results}, indent=2)
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    variants = list(results)
    ax.bar(
        [f"tiny-{v}" for v in variants],
        [results[v]["accuracy"] for v in variants],
        color=["#2b7bba", "#c44e52"][: len(variants)],
    )
    ax.set_ylabel("accuracy on fresh problems (%)")
    ax.set_ylim(0, 100)
    for i, v in enumerate(variants):
        ax.text(i, results[v]["accuracy"] + 2, f"{results[v]['accuracy']:.1f}", ha="center")
    ax.set_title("Tool use vs. arithmetic in words (synthetic)")
    fig.tight_layout()
    fig.savefig(run_dir / "results.png", dpi=120)
    plt.close(fig)
    print(table)


MODEL_CARD = """---
license: mit
library_name: transformers
pipeline_tag: text-generation
tags: [tora, tool-integrated-reasoning, synthetic, tiny]
---
# tiny-tora: a small ToRA model for synthetic arithmetic

**This is not a math model.** It is a {params:,}-parameter Llama-architecture model
trained from scratch on CPU ({steps:,} optimizer steps of 32 trajectories), on
synthetic arithmetic word problems (30 templates of everyday stories, 2 to 4 steps,
operands of 1 to 5 digits, answers up to 7). It ships inside `langchain-tora` so
that `tora solve` works offline on any machine, and to show the ToRA idea in
miniature: it writes a python block that copies the question into a string, reads
its numbers with `re.findall`, names them and computes; it reads the interpreter's
output and boxes the answer. Outside these templates it writes the same kind of
program, usually a wrong one.

For real problems use a released checkpoint, e.g.
`tora solve --model llm-agents/tora-code-7b-v1.0 "..."`, or any chat model:
`tora solve --model openai:gpt-4o "..."`.

Prompt format: `<|user|>\\n{{question}}\\n<|assistant|>\\n` (the released ToRA format).

## Results on {eval_problems} fresh synthetic problems (seed {eval_seed})

{table}

Reproduce: `python -m train.tiny --recipe train/recipes/tiny-tora.yaml`.
"""


def prepare(recipe: dict[str, Any]) -> tuple[dict[str, Path], Path, Path]:
    """Stages 1 and 2: the corpora, the evaluation set and the tokenizer, under ``run_dir``.

    Returns ``(corpora, eval_file, tokenizer_dir)``; what exists already is kept.
    ``corpora`` maps ``tora`` and ``cot`` (and, per stage of the ``continue``
    section, ``tora-continued``, ``cot-continued``, then ``tora-continued-3``...)
    to jsonl files.  The tokenizer is trained on the first two.
    """
    from langchain_tora.datasets.synthetic import write_corpus, write_eval_set

    run_dir, task = Path(recipe["run_dir"]), recipe["task"]
    data_dir = run_dir / "data"
    sources = [("", "train", task)]
    for k, stage in enumerate(continue_stages(recipe)):  # later stages' fresh problems
        sources.append((_stage_suffix(k), "continue" + (str(k + 2) if k else ""), stage))
    corpora: dict[str, Path] = {}
    for suffix, prefix, settings in sources:
        for variant in ("tora", "cot"):
            path = corpora[variant + suffix] = data_dir / f"{prefix}-{variant}.jsonl"
            if not path.exists():
                write_corpus(
                    path,
                    settings["train_problems"],
                    seed=settings["train_seed"],
                    style=variant,
                    error_rate=task.get("error_rate", 0.15),
                )
    eval_file = data_dir / "eval.jsonl"
    if not eval_file.exists():
        write_eval_set(eval_file, task["eval_problems"], seed=task["eval_seed"])

    tok_dir = run_dir / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        from train.corpus import load_records

        texts = [r.text() for v in ("tora", "cot") for r in load_records(corpora[v])]
        build_tokenizer(
            texts,
            recipe["tokenizer"]["vocab_size"],
            tok_dir,
            number_tokens=recipe["tokenizer"].get("number_tokens", 0),
        )
    return corpora, eval_file, tok_dir


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="train/recipes/tiny-tora.yaml")
    parser.add_argument("--only", choices=["tora", "cot"], help="train and evaluate one variant")
    parser.add_argument(
        "--no-export", action="store_true", help="do not copy the model into the package"
    )
    args = parser.parse_args(argv)
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    run_dir = Path(recipe["run_dir"])
    task, variants = (
        recipe["task"],
        ([args.only] if args.only else recipe.get("variants", ["tora", "cot"])),
    )

    corpora, eval_file, tok_dir = prepare(recipe)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    config_path = write_model_config(run_dir / "model-config", tokenizer, recipe["model"])

    results: dict[str, dict[str, Any]] = {}
    stage_dirs: dict[str, list[Path]] = {}  # per variant, its training stages in order
    stage_summaries: dict[str, list[dict[str, Any]]] = {}  # and their training summaries
    later = continue_stages(recipe)
    for variant in variants:
        stages = [
            (
                run_dir / f"tiny-{variant}",
                {"model_config": str(config_path), "data": str(corpora[variant])},
            )
        ]
        for k, stage in enumerate(later):  # from the previous stage's weights, fresh problems
            suffix = _stage_suffix(k)
            stages.append(
                (
                    run_dir / f"tiny-{variant}{suffix}",
                    {
                        **stage.get("train", {}),
                        "model_name_or_path": str(stages[-1][0] / "final"),
                        "data": str(corpora[variant + suffix]),
                    },
                )
            )
        for out, settings in stages:
            if not (out / "final" / "training_summary.json").exists():
                train(
                    ToRATrainConfig(
                        **{
                            **recipe["train"],
                            **settings,
                            "tokenizer": str(tok_dir),
                            "output_dir": str(out),
                        }
                    )
                )
        stage_dirs[variant] = [st[0] for st in stages]
        out, final = stages[-1][0], stages[-1][0] / "final"
        eval_settings = recipe.get("eval", {})
        results[variant] = evaluate(
            final,
            eval_file,
            out / "eval.jsonl",
            batch_size=eval_settings.get("batch_size", 64),
            max_tokens=eval_settings.get("max_tokens", 400),
            device=eval_settings.get("device", "auto"),
        )
        results[variant].update(
            _unseen_accuracy(out / "eval.jsonl", [Path(st[1]["data"]) for st in stages])
        )
        if variant == "tora":
            results[variant]["wrong_answers"] = _miscopied(out / "eval.jsonl")
        summaries = stage_summaries[variant] = _read_stage_summaries(stage_dirs[variant])
        results[variant]["training"] = _training_summary(summaries)
        _loss_curve_over_stages(stage_dirs[variant], summaries, run_dir / f"loss-{variant}")
    _write_report(run_dir, results, recipe)

    if "tora" in results and not args.no_export:
        export = Path(recipe["export_to"])
        if export.exists():
            shutil.rmtree(export)
        export.mkdir(parents=True)
        final = stage_dirs["tora"][-1] / "final"
        for name in (
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "training_summary.json",
        ):
            if (final / name).exists():
                shutil.copy(final / name, export / name)
        if later:  # the last stage's summary, with the ones before it
            *earlier, summary = stage_summaries["tora"]
            summary = {**summary, "earlier_stages": earlier}
            (export / "training_summary.json").write_text(json.dumps(summary, indent=2))
        shutil.copy(run_dir / "results.json", export / "results.json")
        shutil.copy(run_dir / "results.png", export / "results.png")
        if (run_dir / "loss-tora" / "loss_curve.png").exists():
            shutil.copy(run_dir / "loss-tora" / "loss_curve.png", export / "loss_curve.png")
        table = (run_dir / "results.md").read_text()
        params = results["tora"]["training"]["parameters"]
        (export / "README.md").write_text(
            MODEL_CARD.format(
                params=params,
                steps=results["tora"]["training"]["global_steps"],
                eval_problems=task["eval_problems"],
                eval_seed=task["eval_seed"],
                table=table,
            )
        )
        logger.info("exported to %s", export)
    return 0


if __name__ == "__main__":
    sys.exit(main())
