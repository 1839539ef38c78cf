"""Benchmark of sampling trajectories: round-synchronous batching against one at a time.

Output-space shaping samples many trajectories per training problem (the paper: 64).
This measures, in one run on one machine and with one loaded model, how many
trajectories per second the tiny model samples

(a) batched: ``ToRAChain.batch`` over ``--problems`` synthetic problems, each repeated
    ``--samples`` times (one batched model call per round for every trajectory still
    running, then all their code at once), as :mod:`train.shape` does;
(b) one at a time: ``ToRAChain.invoke`` in a loop over the same problems and samples;

and the ratio of the two.  Sampling is nucleus sampling (``--temperature``,
``--top-p``) with the transformers backend; the fraction of valid trajectories is
reported too, as a check that both ways sample the same thing.

Usage::

    python benchmarks/bench_sampling.py [--model tiny-tora|PATH] [--problems 8] [--samples 8]
                                        [--device cpu] [--threads N]

``--model`` is a model folder (default ``tiny-tora``, the packaged model; a training
checkpoint such as ``runs/tiny/tiny-tora/checkpoint-1500`` works too).  Prints a
table and writes the figures to ``benchmarks/results/sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import langchain_tora  # noqa: F401
except ModuleNotFoundError:  # running from a checkout without an install
    sys.path.insert(0, str(REPO))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # train.synthesize

from machine_info import machine_info  # noqa: E402  (benchmarks/, beside this file)

from langchain_tora import LocalInterpreter, ToRAChain  # noqa: E402
from langchain_tora.datasets.synthetic import generate_problems  # noqa: E402
from langchain_tora.models import resolve_local_model  # noqa: E402
from train.synthesize import is_valid  # noqa: E402

SEED = 424_242
"""The problems' seed: used neither by the tiny model's training nor by its evaluation."""


def measure(
    chain: ToRAChain, questions: list[str], golds: list[str], batched: bool
) -> dict[str, Any]:
    """Sample one trajectory per question, batched or one at a time; the figures."""
    start = time.perf_counter()
    if batched:
        outputs = chain.batch(questions, return_exceptions=True)
    else:
        outputs = []
        for question in questions:
            try:
                outputs.append(chain.invoke(question))
            except Exception as error:  # count it, as batch(return_exceptions=True) does
                outputs.append(error)
    seconds = time.perf_counter() - start
    ok = [o for o in outputs if not isinstance(o, BaseException)]
    return {
        "trajectories": len(outputs),
        "seconds": round(seconds, 3),
        "trajectories_per_second": round(len(outputs) / seconds, 3),
        "valid": sum(is_valid(o, g) for o, g in zip(outputs, golds, strict=True)),
        "errors": len(outputs) - len(ok),
        "model_calls": sum(o["usage"]["model_calls"] for o in ok),
        "output_tokens": sum(o["usage"]["output_tokens"] or 0 for o in ok),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-tora", help="tiny-tora or a model folder")
    parser.add_argument("--problems", type=int, default=8, help="synthetic problems (M)")
    parser.add_argument("--samples", type=int, default=8, help="trajectories per problem (k)")
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-tokens", type=int, default=400, help="tokens per round")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--seed", type=int, default=0, help="seeds torch once, at the start")
    parser.add_argument("--output", default=str(REPO / "benchmarks/results/sampling.json"))
    args = parser.parse_args(argv)

    try:
        model = resolve_local_model(args.model)
    except FileNotFoundError as error:
        print(f"{error}\n(give a model folder with --model PATH)", file=sys.stderr)
        return 2
    import torch

    from langchain_tora.local_llm import TransformersLLM

    if args.threads:
        torch.set_num_threads(args.threads)
    # Seeded once: a per-call seed would make the k calls of one problem (one at a time)
    # draw the same sample k times.
    torch.manual_seed(args.seed)
    problems = generate_problems(args.problems, seed=SEED)
    questions = [p.question for p in problems for _ in range(args.samples)]
    golds = [p.answer for p in problems for _ in range(args.samples)]
    llm = TransformersLLM(
        model_id=model,
        device=args.device,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        batch_size=len(questions),  # one forward batch for every trajectory of a round
    ).load()

    results: dict[str, Any] = {}
    with LocalInterpreter() as python:
        chain = ToRAChain(
            llm=llm, interpreter=python, prompt="tora", max_tokens_per_round=args.max_tokens
        )
        chain.invoke(questions[0])  # warm-up: first forward pass, sandbox fork
        results["batched"] = measure(chain, questions, golds, batched=True)
        results["one_at_a_time"] = measure(chain, questions, golds, batched=False)
    ratio = (
        results["batched"]["trajectories_per_second"]
        / results["one_at_a_time"]["trajectories_per_second"]
    )

    document = {
        "machine": machine_info(
            torch=torch.__version__, torch_threads=torch.get_num_threads(), device=args.device
        ),
        "setup": {
            "model": str(model),
            "problems": args.problems,
            "samples_per_problem": args.samples,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens_per_round": args.max_tokens,
            "problem_seed": SEED,
            "sampling_seed": args.seed,
        },
        **results,
        "speedup": round(ratio, 2),
    }
    print("| way | trajectories | seconds | trajectories/s | valid | model calls |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} | {r['trajectories']} | {r['seconds']:.1f} | "
            f"{r['trajectories_per_second']:.2f} | {r['valid']} | {r['model_calls']} |"
        )
    print(f"batched / one at a time: {ratio:.1f}x")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
