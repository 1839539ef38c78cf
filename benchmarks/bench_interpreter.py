"""Benchmark of the local sandbox: one-run latency and batch throughput.

Measures, in one run on one machine:

(a) the median latency of ``LocalInterpreter.run`` on a small sympy snippet, run back
    to back and after a short idle gap (as in the ToRA loop, where the model writes
    between two runs and the sandbox has a pre-forked child waiting), against the
    median of running the same snippet with a fresh ``python -c`` (what a sandbox
    that starts an interpreter per snippet pays), and their ratios;
(b) the throughput of ``LocalInterpreter.run_batch`` over the last python block of
    each of the 1319 released ToRA-Code-34B GSM8K trajectories, and how often the
    rendered result (2023-10 style) equals the output recorded in the trajectory.

Data: ``$TORA_DATA_DIR/outputs/tora-code-34b-v1.0/gsm8k/test.jsonl``
(``TORA_DATA_DIR`` defaults to ``../shared/data`` next to the repository).

Usage::

    python benchmarks/bench_interpreter.py [--runs 200] [--cold-runs 20] [--repeats 3]

Prints a table and writes the figures to ``benchmarks/results/interpreter.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import langchain_tora  # noqa: F401
except ModuleNotFoundError:  # running from a checkout without an install
    sys.path.insert(0, str(REPO))

from machine_info import machine_info  # noqa: E402  (benchmarks/, beside this file)

from langchain_tora.interpreters import LocalInterpreter, render_execution  # noqa: E402

SYMPY_SNIPPET = "from sympy import *; x=symbols('x'); print(solve(x**2-4, x))"
TRAJECTORIES = Path("outputs/tora-code-34b-v1.0/gsm8k/test.jsonl")
PY_OPEN, CLOSE, OUT_OPEN = "```python\n", "\n```", "```output\n"


def data_dir() -> Path:
    """``$TORA_DATA_DIR``, else ``../shared/data`` relative to the repository root."""
    return Path(os.environ.get("TORA_DATA_DIR") or REPO.parent / "shared" / "data")


def last_block(trajectory: str) -> tuple[str | None, str | None]:
    """The last python block of a trajectory and the output block right after it."""
    start = trajectory.rfind(PY_OPEN)
    if start < 0:
        return None, None
    body = trajectory[start + len(PY_OPEN) :]
    end = body.find(CLOSE)
    code = body if end < 0 else body[:end]
    rest = "" if end < 0 else body[end + len(CLOSE) :].lstrip("\n")
    output = None
    if rest.startswith(OUT_OPEN):
        text = rest[len(OUT_OPEN) :]
        stop = text.find(CLOSE)
        output = text if stop < 0 else text[:stop]
    return code, output


def load_snippets(path: Path) -> tuple[list[str], list[str | None]]:
    codes, outputs = [], []
    with path.open() as handle:
        for line in handle:
            code, output = last_block(json.loads(line)["code"][0])
            if code is not None:
                codes.append(code)
                outputs.append(output)
    return codes, outputs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_runs(python: LocalInterpreter, runs: int, gap: float) -> list[float]:
    """Seconds per ``run`` of the sympy snippet; ``gap`` idle seconds before each."""
    times = []
    for _ in range(runs):
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        execution = python.run(SYMPY_SNIPPET)
        times.append(time.perf_counter() - start)
        if execution.stdout != "[-2, 2]\n":
            raise RuntimeError(f"unexpected result from the sandbox: {execution!r}")
    return times


def bench_latency(
    python: LocalInterpreter, runs: int, cold_runs: int, gap: float
) -> dict[str, Any]:
    for _ in range(10):  # warm the caches of this process and the zygote's pages
        python.run(SYMPY_SNIPPET)
    back_to_back = time_runs(python, runs, 0.0)
    after_idle = time_runs(python, runs, gap)
    cold = []
    env = {"PATH": os.environ.get("PATH", os.defpath), "OPENBLAS_NUM_THREADS": "1"}
    for _ in range(cold_runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", SYMPY_SNIPPET],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        cold.append(time.perf_counter() - start)
        if done.stdout != "[-2, 2]\n":
            raise RuntimeError(f"unexpected result from python -c: {done.stdout!r}")
    local, idle, fresh = (statistics.median(x) for x in (back_to_back, after_idle, cold))
    return {
        "snippet": SYMPY_SNIPPET,
        "runs": runs,
        "run_median_ms": local * 1e3,
        "run_p10_ms": percentile(back_to_back, 0.1) * 1e3,
        "run_p90_ms": percentile(back_to_back, 0.9) * 1e3,
        "idle_gap_s": gap,
        "run_after_idle_median_ms": idle * 1e3,
        "run_after_idle_p90_ms": percentile(after_idle, 0.9) * 1e3,
        "python_c_runs": cold_runs,
        "python_c_median_ms": fresh * 1e3,
        "speedup": fresh / local,
        "speedup_after_idle": fresh / idle,
    }


def bench_throughput(
    python: LocalInterpreter, codes: list[str], outputs: list[str | None], repeats: int
) -> dict[str, Any]:
    python.run_batch(codes[:50])  # warm-up
    rates, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results = python.run_batch(codes)
        rates.append(len(codes) / (time.perf_counter() - start))
    rendered = [render_execution(r, "2023-10") for r in results]
    compared = [
        (mine, theirs.strip())
        for mine, theirs in zip(rendered, outputs, strict=True)
        if theirs is not None
    ]
    return {
        "snippets": len(codes),
        "repeats": repeats,
        "snippets_per_s_median": statistics.median(rates),
        "snippets_per_s_best": max(rates),
        "errors": sum(r.error is not None for r in results),
        "timeouts": sum(r.timed_out for r in results),
        "with_recorded_output": len(compared),
        "same_as_recorded_output": sum(mine == theirs for mine, theirs in compared),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="sandbox runs for the latency median")
    parser.add_argument(
        "--cold-runs", type=int, default=20, help="python -c runs for the baseline median"
    )
    parser.add_argument("--gap", type=float, default=0.02, help="idle seconds before each run")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the 1319 snippets")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "interpreter.json"
    )
    args = parser.parse_args(argv)

    path = data_dir() / TRAJECTORIES
    if not path.is_file():
        print(f"trajectories not found at {path}: set TORA_DATA_DIR", file=sys.stderr)
        return 2
    codes, outputs = load_snippets(path)

    with LocalInterpreter(timeout=5.0) as python:
        start = time.perf_counter()
        python.start()
        startup = time.perf_counter() - start
        latency = bench_latency(python, args.runs, args.cold_runs, args.gap)
        throughput = bench_throughput(python, codes, outputs, args.repeats)
        isolation = python.isolation
        workers = python.max_workers

    report = {
        "machine": machine_info(),
        "interpreter": {
            "max_workers": workers,
            "startup_s": startup,
            "network_isolated": isolation.get("network_isolated"),
            "pid_isolated": isolation.get("pid_isolated"),
            "privileges_dropped": isolation.get("privileges_dropped"),
            "filesystem_readonly": isolation.get("filesystem_readonly"),
        },
        "latency": latency,
        "throughput": throughput,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    gap_ms = latency["idle_gap_s"] * 1e3
    rows = [
        ("zygote start-up", f"{startup * 1e3:.0f} ms"),
        (
            f"run() median, sympy snippet, back to back ({args.runs} runs)",
            f"{latency['run_median_ms']:.2f} ms",
        ),
        ("  p10 / p90", f"{latency['run_p10_ms']:.2f} / {latency['run_p90_ms']:.2f} ms"),
        (
            f"run() median after {gap_ms:.0f} ms idle ({args.runs} runs)",
            f"{latency['run_after_idle_median_ms']:.2f} ms",
        ),
        (f"python -c median ({args.cold_runs} runs)", f"{latency['python_c_median_ms']:.1f} ms"),
        (
            "speed-up over python -c: back to back / after idle",
            f"{latency['speedup']:.0f}x / {latency['speedup_after_idle']:.0f}x",
        ),
        (
            f"run_batch, {throughput['snippets']} GSM8K snippets, {workers} workers",
            f"{throughput['snippets_per_s_median']:.0f} snippets/s (best {throughput['snippets_per_s_best']:.0f})",
        ),
        ("errors / timeouts", f"{throughput['errors']} / {throughput['timeouts']}"),
        (
            "rendered output == recorded output",
            f"{throughput['same_as_recorded_output']} / {throughput['with_recorded_output']}",
        ),
        ("load average (1 min) at the end", f"{report['machine']['load_average_1m']:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"LocalInterpreter benchmark ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
