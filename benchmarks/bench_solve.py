"""Wall time of ``tora solve`` with the packaged default model, against two references.

Runs, in one invocation on the same machine and interleaved (so that a busy moment
hurts all three alike), each of these as a fresh process, ``--runs`` times:

* ``tora solve``: the console script as users run it (``langchain_tora.cli.run``,
  which leaves without Python's module teardown after ``solve``);
* ``normal exit``: the same command through :func:`langchain_tora.cli.main` and a
  normal interpreter exit (the baseline the fast exit is measured against);
* ``import floor``: ``import torch, transformers.modeling_utils`` and an immediate
  ``os._exit``, the part no ``tora solve`` on transformers can avoid.

It reports medians, the ratios to the baseline and to the floor, and checks that
every solve printed the expected answer.  Results go to ``benchmarks/results/solve.json``.

    python benchmarks/bench_solve.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from machine_info import machine_info  # noqa: E402  (benchmarks/, beside this file)


def _timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=4242, help="the synthetic problem's seed")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/solve.json"))
    args = parser.parse_args(argv)

    from langchain_tora.datasets.synthetic import generate_problems

    problem = generate_problems(1, seed=args.seed)[0]
    tora = shutil.which("tora")
    if tora is None:
        raise SystemExit("the `tora` script is not on PATH: pip install -e '.[local]' first")
    commands = {
        "tora solve": [tora, "solve", problem.question],
        "normal exit": [
            sys.executable,
            "-c",
            "import sys; from langchain_tora.cli import main; sys.exit(main(sys.argv[1:]))",
            "solve",
            problem.question,
        ],
        "import floor": [
            sys.executable,
            "-c",
            "import os, torch, transformers.modeling_utils; os._exit(0)",
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    _timed(commands["tora solve"])  # warm the page cache and the bytecode caches
    for i in range(args.runs):
        for name, command in commands.items():
            seconds, out = _timed(command)
            if name != "import floor":
                last = out.strip().splitlines()[-1]
                if last != f"answer: {problem.answer}":
                    raise SystemExit(f"{name}: expected answer {problem.answer}, got {last!r}")
            times[name].append(seconds)
        print(
            f"run {i + 1}/{args.runs}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items())
        )

    median = {name: statistics.median(t) for name, t in times.items()}
    report = {
        "machine": machine_info(),
        "problem": {"seed": args.seed, "question": problem.question, "answer": problem.answer},
        "runs": args.runs,
        "seconds": times,
        "median_s": median,
        "max_s": {name: max(t) for name, t in times.items()},
        "speedup_over_normal_exit": median["normal exit"] / median["tora solve"],
        "solve_over_import_floor": median["tora solve"] / median["import floor"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"median: tora solve {median['tora solve']:.2f} s, normal exit "
        f"{median['normal exit']:.2f} s ({report['speedup_over_normal_exit']:.2f}x), "
        f"import floor {median['import floor']:.2f} s "
        f"(solve = {report['solve_over_import_floor']:.2f}x the floor); written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
