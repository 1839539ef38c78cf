"""The whole ToRA training loop from one recipe: imitation, shaping, retraining, evaluation.

The paper's Figure 5 compares a model trained by imitation learning alone with the
same model retrained after output-space shaping by sampling, and by sampling plus
correction.  This driver runs that comparison::

    python -m train.loop --recipe train/recipes/shaping-tiny.yaml          # CPU, synthetic task
    python -m train.loop --recipe train/recipes/shaping-tora-code-7b.yaml  # GPUs, GSM8K + MATH

Stages (each skips the work whose output exists, so a stopped run resumes):

1. ``data``: the imitation corpus, the training problems to shape on (the *pool*) and
   the held-out evaluation problems.  The tiny recipe generates them from the
   synthetic task (:mod:`langchain_tora.datasets.synthetic`) with a deliberately
   small corpus, so that shaping has something to add; the paper recipe names a
   corpus file and datasets;
2. ``imitation``: train the imitation model on the corpus (:func:`train.sft.train` in
   this process, or ``train.sft`` under a launcher such as ``accelerate launch``);
3. ``shape``: sample ``samples`` trajectories per pool problem from it, correct the
   invalid ones with the teacher (``programmatic``: the synthetic task's teacher as a
   completion model; ``imitation``: the imitation model itself, greedy; or a model)
   and merge (:mod:`train.shape`); ``shards > 1`` runs the shards as parallel
   processes (``gpus_per_shard`` GPUs each);
4. ``retrain``: the same training on corpus + sampled and on corpus + sampled +
   corrected;
5. ``eval``: the three models on the same held-out problems (greedy, through
   :class:`~langchain_tora.ToRAChain`; :func:`langchain_tora.evaluation.evaluate`);
6. ``report``: ``results.md`` (three rows, as Figure 5), ``results.json``, ``results.png``.

``--stages shape,retrain`` runs some stages only (the others must have run).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult

from langchain_tora.datasets.benchmarks import Problem
from langchain_tora.datasets.synthetic import SyntheticProblem, generate_problems, tora_solution
from langchain_tora.trajectory import PYTHON_FENCE, model_rounds, segments, split_tora_prompt
from train.shape import local_llm, merge, shape_shard
from train.synthesize import load_training_problems, sampling_copy

logger = logging.getLogger("train.loop")

STAGES = ("data", "imitation", "shape", "retrain", "eval", "report")
MODELS = {
    "imitation": "imitation learning only",
    "sampled": "+ shaping: sampling",
    "sampled+corrected": "+ shaping: sampling and correction",
}
"""The three models of the comparison and their row titles."""
CORPUS_OF = {"sampled": "corpus+sampled", "sampled+corrected": "corpus+sampled+corrected"}


# --------------------------------------------------------------------------- the teacher


class ProgrammaticTeacher(BaseLLM):
    """The synthetic task's teacher as a completion model: it continues any prefix.

    Given ``<|user|>\\n{question}\\n<|assistant|>\\n{prefix}``, it writes what the
    programmatic teacher (:func:`~langchain_tora.datasets.synthetic.tora_solution`)
    would: its rationale and program when the round is empty, only the program after
    some rationale, the rest of its own program when the prefix stopped inside a
    python block (the lines after as many as the prefix wrote there: a prefix that
    followed the teacher is completed, one that went astray, say with a miscopied
    number, stays wrong and its continuation is dropped as invalid), and the boxed
    answer once an output block shows the right answer.

    Example:
        >>> problem = generate_problems(1, seed=0)[0]
        >>> teacher = ProgrammaticTeacher(problems={problem.question: problem})
        >>> teacher.invoke(f"<|user|>\\n{problem.question}\\n<|assistant|>\\n").startswith("Let")
        True
    """

    problems: dict[str, SyntheticProblem]

    @property
    def _llm_type(self) -> str:
        return "programmatic-teacher"

    def _continue(self, prompt: str) -> str:
        question, so_far = split_tora_prompt(prompt)
        problem = self.problems[question]
        solution = tora_solution(problem, rng=random.Random(question), error_rate=0.0)
        first, final = model_rounds(solution)
        outputs = [s for s in segments(so_far) if s.kind == "output"]
        partial = so_far[outputs[-1].end :] if outputs else so_far
        opened = [line for line in partial.split("\n") if line.startswith("```")]
        if opened and opened[-1].startswith(PYTHON_FENCE):  # inside a python block
            written = partial[partial.rindex(PYTHON_FENCE) :].split("\n")[1:]
            program = first[first.index(PYTHON_FENCE) :].split("\n")[1:]  # ends with the fence
            rest = "\n".join(program[len([line for line in written if line.strip()]) :])
            return rest if so_far.endswith("\n") else "\n" + rest
        if outputs and so_far[outputs[-1].body_start : outputs[-1].body_end] == problem.answer:
            return final
        return first if not partial.strip() else first[first.index(PYTHON_FENCE) :]

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=self._continue(p))] for p in prompts])


# --------------------------------------------------------------------------- stages


def _write_problems(path: Path, problems: Sequence[SyntheticProblem]) -> None:
    path.write_text(
        "".join(json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in problems)
    )


def make_data(recipe: dict[str, Any], run: Path) -> dict[str, Any]:
    """Stage 1: the corpus, the pool and the evaluation problems (their paths or names)."""
    task = recipe.get("synthetic")
    if not task:  # real datasets: named in the recipe
        return {
            "corpus": recipe["corpus"],
            "pool": recipe["pool"],
            "eval": recipe["eval"]["datasets"],
        }
    from langchain_tora.datasets.synthetic import drop_overlap, write_corpus

    data = run / "data"
    data.mkdir(parents=True, exist_ok=True)
    corpus, pool, held_out = data / "corpus.jsonl", data / "pool.jsonl", data / "eval.jsonl"
    evaluation = generate_problems(task["eval_problems"], seed=task["eval_seed"])
    if not corpus.exists():
        write_corpus(
            corpus,
            task["corpus_problems"],
            seed=task["corpus_seed"],
            error_rate=task.get("error_rate", 0.15),
        )
    if not pool.exists():
        candidates = generate_problems(task["pool_problems"], seed=task["pool_seed"])
        _write_problems(pool, drop_overlap(candidates, evaluation))
    if not held_out.exists():
        _write_problems(held_out, evaluation)
    return {"corpus": str(corpus), "pool": str(pool), "eval": str(held_out)}


def prepare_model(recipe: dict[str, Any], run: Path, corpus: str) -> dict[str, str]:
    """For a model trained from scratch (the tiny recipe): its tokenizer and config."""
    if "model" not in recipe:
        return {}
    from transformers import AutoTokenizer

    from train.corpus import load_records
    from train.tiny import build_tokenizer, write_model_config

    settings = recipe.get("tokenizer") or {}
    tok_dir = Path(settings["path"]) if "path" in settings else run / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        texts = [r.text() for r in load_records(corpus)]
        build_tokenizer(
            texts, settings["vocab_size"], tok_dir, number_tokens=settings.get("number_tokens", 0)
        )
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    config = write_model_config(run / "model-config", tokenizer, recipe["model"])
    return {"model_config": str(config), "tokenizer": str(tok_dir)}


def train_command(recipe: dict[str, Any], data: str, output_dir: Path) -> list[str]:
    """The command that trains with a ``train.recipe`` file (under ``train.launcher``)."""
    settings = recipe["train"]
    launcher = shlex.split(settings.get("launcher") or sys.executable)
    return [
        *launcher,
        "-m",
        "train.sft",
        "--recipe",
        settings["recipe"],
        "--data",
        data,
        "--output_dir",
        str(output_dir),
    ]


def train_model(
    recipe: dict[str, Any], run: Path, name: str, data: str, model: dict[str, str]
) -> Path:
    """Stages 2 and 4: train one model on ``data``; skipped when it is trained already."""
    out = run / name
    final = out / "final"
    if (final / "training_summary.json").exists():
        return final
    logger.info("training %s on %s", name, data)
    if "recipe" in recipe["train"]:  # a recipe file under a launcher (accelerate + DeepSpeed)
        subprocess.run(train_command(recipe, data, out), check=True)
    else:  # in this process (the tiny model)
        from train.sft import ToRATrainConfig, train

        train(ToRATrainConfig(**{**recipe["train"], **model, "data": data, "output_dir": str(out)}))
    return final


def shard_command(
    recipe: dict[str, Any], model: Path, data: dict[str, Any], output: Path, shard: int
) -> list[str]:
    """The command of one shaping shard (``shape.shards > 1``)."""
    s = recipe["shape"]
    if s["teacher"] == "programmatic":
        raise ValueError("the programmatic teacher runs in the loop's process only: set shards: 1")
    command = [
        sys.executable, "-m", "train.shape", "run",
        "--model", str(model), "--data", str(data["pool"]), "--output", str(output),
        "--shard", f"{shard}/{s['shards']}", "--samples", str(s["samples"]),
        "--temperature", str(s["temperature"]), "--top-p", str(s["top_p"]),
        "--teacher", "same" if s["teacher"] == "imitation" else str(s["teacher"]),
        "--cut", s.get("cut", "random"), "--backend", s.get("backend", "auto"),
        "--batch-size", str(s.get("batch_size", 8)), "--max-tokens", str(s.get("max_tokens", 1024)),
        "--seed", str(s.get("seed", 0)), "--corpus", str(data["corpus"]),
    ]  # fmt: skip
    if s.get("max_corrections") is not None:
        command += ["--max-corrections", str(s["max_corrections"])]
    if s.get("limit") is not None:
        command += ["--limit", str(s["limit"])]
    if s.get("device"):
        command += ["--device", str(s["device"])]
    if recipe.get("torch_threads"):
        command += ["--threads", str(recipe["torch_threads"])]
    return [*command, "--quiet"]


def shape(recipe: dict[str, Any], run: Path, model: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Stage 3: sample and correct on the pool, then merge; returns the shaping report."""
    s = recipe["shape"]
    output = run / "shaping"
    shards = int(s.get("shards", 1))
    if shards > 1:  # parallel processes, `gpus_per_shard` GPUs each
        per = int(s.get("gpus_per_shard", 0))
        procs = []
        for i in range(shards):
            env = dict(os.environ)
            if per:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(
                    str(g) for g in range(i * per, (i + 1) * per)
                )
            procs.append(subprocess.Popen(shard_command(recipe, model, data, output, i), env=env))
        failed = [i for i, p in enumerate(procs) if p.wait() != 0]
        if failed:
            raise RuntimeError(f"shaping shards {failed} failed; rerun the loop to resume them")
    else:
        _shape_here(recipe, model, data, output)
    return merge(output, corpus=data["corpus"], keep=s.get("keep", 4), seed=s.get("seed", 0))


def _shape_here(recipe: dict[str, Any], model: Path, data: dict[str, Any], output: Path) -> None:
    from langchain_tora import LocalInterpreter, ToRAChain

    s = recipe["shape"]
    problems = load_training_problems(str(data["pool"]), limit=s.get("limit"))
    options = {
        "backend": s.get("backend", "auto"),
        "device": s.get("device", "auto"),
        "max_tokens": s.get("max_tokens", 1024),
        "batch_size": s.get("generation_batch_size", 64),
    }
    sampler_llm = local_llm(str(model), temperature=s["temperature"], top_p=s["top_p"], **options)
    if s["teacher"] == "programmatic":
        by_question = {
            p.question: p
            for p in generate_problems(
                recipe["synthetic"]["pool_problems"], seed=recipe["synthetic"]["pool_seed"]
            )
        }
        teacher: BaseLLM | None = ProgrammaticTeacher(problems=by_question)
    elif s["teacher"] == "imitation":  # the model itself, greedy, sharing the weights
        teacher = sampling_copy(sampler_llm, temperature=0.0, top_p=1.0)
    elif s["teacher"] == "none":
        teacher = None
    else:
        teacher = local_llm(str(s["teacher"]), **options)
    with LocalInterpreter() as python:
        sampler = ToRAChain(
            llm=sampler_llm,
            interpreter=python,
            prompt="tora",
            max_tokens_per_round=s.get("max_tokens", 1024),
        )
        shape_shard(
            problems,
            sampler,
            teacher,
            python,
            output,
            samples=s["samples"],
            max_corrections=s.get("max_corrections"),
            cut=s.get("cut", "random"),
            seed=s.get("seed", 0),
            batch_size=s.get("batch_size", 8),
            max_tokens_per_round=s.get("max_tokens", 1024),
            manifest={
                "data": str(data["pool"]),
                "corpus": str(data["corpus"]),
                "model": str(model),
            },
            progress=False,
        )


def evaluate_model(
    recipe: dict[str, Any], run: Path, name: str, model: Path, data: dict[str, Any]
) -> dict[str, Any]:
    """Stage 5: one model on the held-out problems; returns the metrics (resumes)."""
    from langchain_tora import LocalInterpreter, ToRAChain
    from langchain_tora.evaluation import evaluate

    e = recipe.get("eval") or {}
    llm = local_llm(
        str(model),
        backend=e.get("backend", "auto"),
        device=e.get("device", "auto"),
        max_tokens=e.get("max_tokens", 1024),
        batch_size=e.get("generation_batch_size", 64),
    )
    if recipe.get("synthetic"):  # the held-out synthetic problems, written in stage 1
        rows = [json.loads(line) for line in Path(data["eval"]).read_text().splitlines() if line]
        datasets: Any = {
            "synthetic": [
                Problem(f"synthetic/{i}", "synthetic", r["question"], r["answer"])
                for i, r in enumerate(rows)
            ]
        }
    else:
        datasets = data["eval"]
    with LocalInterpreter() as python:
        chain = ToRAChain(
            llm=llm,
            interpreter=python,
            prompt="tora",
            max_tokens_per_round=e.get("max_tokens", 1024),
        )
        return evaluate(
            chain,
            datasets,
            run / name / "eval",
            limit=e.get("limit"),
            batch_size=e.get("batch_size", 64),
            progress=False,
            run_info={"model": name},
        )


def write_report(
    run: Path,
    metrics: dict[str, dict[str, Any]],
    shaping: dict[str, Any],
    records: dict[str, int | None],
) -> str:
    """Stage 6: the three-row table (as the paper's Figure 5), its data and a chart."""
    datasets = list(next(iter(metrics.values()))["datasets"])
    header = ["model", "trained on (records)", *datasets]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, title in MODELS.items():
        accuracies = [f"{metrics[name]['datasets'][d]['accuracy']:.1f}" for d in datasets]
        trained_on = "corpus" if name == "imitation" else CORPUS_OF[name]
        lines.append(
            f"| {title} | {trained_on} ({records[name]}) | " + " | ".join(accuracies) + " |"
        )
    table = "\n".join(lines) + "\n"
    (run / "results.md").write_text(table)
    (run / "results.json").write_text(
        json.dumps(
            {"metrics": metrics, "shaping": shaping, "records": records}, indent=2, default=str
        )
    )
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return table
    figure = Figure(figsize=(1.5 + 2.2 * len(datasets), 3.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(MODELS)
    for m, (name, title) in enumerate(MODELS.items()):
        values = [metrics[name]["datasets"][d]["accuracy"] for d in datasets]
        xs = [d + (m - 1) * width for d in range(len(datasets))]
        axes.bar_label(axes.bar(xs, values, width, label=title), fmt="%.1f", fontsize=8)
    axes.set_xticks(range(len(datasets)), datasets)
    axes.set_ylim(0, 105)
    axes.set_ylabel("accuracy (%)")
    axes.legend(fontsize=8, loc="lower right")
    figure.savefig(run / "results.png", dpi=120)
    return table


# --------------------------------------------------------------------------- main


def _records(path: str | Path) -> int | None:
    if not Path(path).exists():
        return None
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m train.loop", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--recipe", default="train/recipes/shaping-tiny.yaml")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated: {', '.join(STAGES)}"
    )
    args = parser.parse_args(argv)
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    if unknown := stages - set(STAGES):
        parser.error(f"unknown stages {sorted(unknown)}; use {', '.join(STAGES)}")
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    if recipe.get("torch_threads"):  # on a shared CPU, more threads than free cores is slower
        import torch

        torch.set_num_threads(recipe["torch_threads"])
    run = Path(recipe["run_dir"])
    run.mkdir(parents=True, exist_ok=True)

    # 1. Data, and for a model trained from scratch its tokenizer and config.
    data = make_data(recipe, run)
    model = prepare_model(recipe, run, data["corpus"]) if {"imitation", "retrain"} & stages else {}

    # 2. Imitation learning (or the model the recipe names).
    imitation = (
        Path(recipe["imitation_model"])
        if recipe.get("imitation_model")
        else run / "imitation" / "final"
    )
    if "imitation" in stages and not recipe.get("imitation_model"):
        imitation = train_model(recipe, run, "imitation", data["corpus"], model)

    # 3. Output-space shaping: sample, correct, merge.
    shaping: dict[str, Any] = {}
    if "shape" in stages:
        shaping = shape(recipe, run, imitation, data)
        logger.info("shaping: %s", json.dumps(shaping["variants"]))

    # 4. Retraining on the shaped corpora.
    finals = {"imitation": imitation}
    for name, corpus_name in CORPUS_OF.items():
        shaped = run / "shaping" / f"{corpus_name}.jsonl"
        finals[name] = run / name / "final"
        if "retrain" in stages:
            finals[name] = train_model(recipe, run, name, str(shaped), model)

    # 5. Evaluation of the three models on the same held-out problems.
    metrics: dict[str, dict[str, Any]] = {}
    if "eval" in stages or "report" in stages:
        for name, final in finals.items():
            metrics[name] = evaluate_model(recipe, run, name, final, data)

    # 6. The table.
    if "report" in stages:
        if not shaping and (run / "shaping" / "report.json").exists():
            shaping = json.loads((run / "shaping" / "report.json").read_text())
        records = {"imitation": _records(data["corpus"])}
        for name, corpus_name in CORPUS_OF.items():
            records[name] = _records(run / "shaping" / f"{corpus_name}.jsonl")
        print(write_report(run, metrics, shaping, records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
