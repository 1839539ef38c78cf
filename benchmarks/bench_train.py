"""Training throughput and peak memory of the tiny recipe on CPU.

Runs, in one invocation on the same machine, two subprocesses on the same data and
model (the tiny recipe's tokenizer and config, freshly initialised):

* ``pipeline``: :func:`train.sft.train` (transformers ``Trainer``, the real pipeline);
* ``baseline``: a bare PyTorch loop (AdamW, same batches, no Trainer) -- the floor.

and reports tokens per second (supervised and total), the ratio pipeline/baseline,
and each process's peak resident memory.  Results go to
``benchmarks/results/train.json``.

    python benchmarks/bench_train.py --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _prepare(root: Path, recipe: dict, problems: int) -> tuple[Path, Path, Path]:
    from langchain_tora.datasets.synthetic import write_corpus
    from train.corpus import load_records
    from train.tiny import build_tokenizer, write_model_config

    data = root / "train.jsonl"
    write_corpus(data, problems, seed=recipe["task"]["train_seed"])
    texts = [r.text() for r in load_records(data)]
    tok_spec = recipe["tokenizer"]
    tokenizer = build_tokenizer(
        texts, tok_spec["vocab_size"], root / "tok", number_tokens=tok_spec.get("number_tokens", 0)
    )
    config = write_model_config(root / "cfg", tokenizer, recipe["model"])
    return data, root / "tok", config


def _run_pipeline(args: argparse.Namespace) -> dict:
    import yaml

    from train.sft import ToRATrainConfig, train

    recipe = yaml.safe_load(Path(args.recipe).read_text())
    values = {
        **recipe["train"],
        "model_config": args.config,
        "tokenizer": args.tokenizer,
        "data": args.data,
        "output_dir": args.out,
        "max_steps": args.steps,
        "save_steps": 10**9,
        "report_to": "none",
        "logging_steps": max(1, args.steps // 4),
        "torch_threads": args.threads,
    }
    summary = train(ToRATrainConfig(**values))
    return {"seconds": summary["train_seconds"], "tokens": summary["tokens_seen"]}


def _run_baseline(args: argparse.Namespace) -> dict:
    import torch
    import yaml
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

    from train.corpus import load_records, tokenize_corpus

    recipe = yaml.safe_load(Path(args.recipe).read_text())["train"]
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    rows, _ = tokenize_corpus(load_records(args.data), tokenizer, max_length=recipe["max_length"])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=0.0)
    collate = DataCollatorForSeq2Seq(
        tokenizer, padding=True, label_pad_token_id=-100, pad_to_multiple_of=8
    )
    batch_size = recipe["per_device_batch_size"]
    rows.sort(key=lambda r: len(r["input_ids"]))  # like group_by_length: little padding
    order = torch.randperm(max(1, len(rows) // batch_size)).tolist()
    tokens = 0
    start = time.perf_counter()
    for step in range(args.steps):
        i = order[step % len(order)] * batch_size
        batch = collate(rows[i : i + batch_size])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        tokens += int(batch["attention_mask"].sum())
    return {"seconds": time.perf_counter() - start, "tokens": tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=str(REPO / "train/recipes/tiny-tora.yaml"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--mode", choices=["pipeline", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.mode:  # a measured subprocess
        result = (_run_pipeline if args.mode == "pipeline" else _run_baseline)(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(result))
        return 0

    import yaml

    recipe = yaml.safe_load(Path(args.recipe).read_text())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, tok, config = _prepare(root, recipe, args.problems)
        for mode in ("baseline", "pipeline"):
            cmd = [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--recipe",
                args.recipe,
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
                "--data",
                str(data),
                "--tokenizer",
                str(tok),
                "--config",
                str(config),
                "--out",
                str(root / f"out-{mode}"),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            r = json.loads(line[-1][len("RESULT ") :])
            r["tokens_per_second"] = r["tokens"] / r["seconds"]
            results[mode] = r
    ratio = results["pipeline"]["tokens_per_second"] / results["baseline"]["tokens_per_second"]
    report = {
        "machine": f"{os.cpu_count()} cores",
        "steps": args.steps,
        "threads": args.threads,
        "batch": recipe["train"]["per_device_batch_size"],
        "results": results,
        "pipeline_over_baseline_speed": ratio,
    }
    print(f"{'run':<10} {'tokens/s':>10} {'peak RSS MB':>12}")
    for mode, r in results.items():
        print(f"{mode:<10} {r['tokens_per_second']:>10.0f} {r['peak_rss_mb']:>12.0f}")
    print(f"pipeline / baseline speed: {ratio:.2f}")
    out = REPO / "benchmarks" / "results" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
