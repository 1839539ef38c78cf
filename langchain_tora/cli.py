"""The ``tora`` command.

Subcommands:

* ``tora solve "QUESTION"``: solve one problem, printing each step as it happens
  (default model: the packaged tiny model for synthetic arithmetic);
* ``tora replay [FILE]``: re-execute and re-grade recorded ToRA trajectories (by
  default the released ToRA-Code-34B GSM8K outputs under ``$TORA_DATA_DIR``);
* ``tora eval``: evaluate a model on the paper's datasets (rows, metrics, a table in
  the paper's layout and a chart; resumable), or ``tora eval --regrade FILE``:
  re-extract and re-grade recorded outputs (see :mod:`langchain_tora.evaluation`);
* ``tora download NAME``: fetch a released checkpoint (``tora-code-7b``) or any Hub
  model into the Hugging Face cache (configs, tokenizer, weights);
* ``tora card NAME``: print the generated model card of a released checkpoint (or of
  your model: ``--repo-id ID --summary FILE --metrics FILE``);
* ``tora push DIR REPO_ID``: upload a trained model, its tokenizer and its generated
  card to the Hub in one commit (``--dry-run`` lists what would go up).

``--model`` also takes ``vllm:URL@MODEL`` (a model served by ``vllm serve``) and
``vllm:MODEL`` (vLLM's engine in this process); see :mod:`langchain_tora.vllm`.

Example:
    .. code-block:: bash

        tora solve "A farm has 1234 hens and buys 567 more. How many hens now?"
        tora solve --model llm-agents/tora-code-7b-v1.0 "What is the sum of the first 100 primes?"
        tora solve --model openai:gpt-4o --interpreter e2b "Solve x^2 - 5x + 6 = 0."
        tora replay --limit 100
        tora replay my_outputs.jsonl --style 2023-11 --report report.json
        tora eval --model llm-agents/tora-code-7b-v1.0 --dataset gsm8k,math --output runs/7b
        tora eval --model openai:gpt-4o --dataset all --skip-missing --samples 5 \
            --temperature 0.6 --max-concurrency 8 --output runs/gpt-4o
        tora eval --regrade runs/7b/gsm8k.jsonl
        tora eval --model vllm:http://localhost:8000/v1@llm-agents/tora-code-7b-v1.0 \
            --dataset gsm8k,math --output runs/7b-vllm
        tora download tora-code-7b
        tora card tora-code-34b
        tora push runs/my-7b/final me/my-tora-7b --metrics runs/eval-my-7b/metrics.json --dry-run
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from langchain_tora.interpreters import OUTPUT_STYLES, BaseInterpreter


def make_interpreter(kind: str, timeout: float) -> BaseInterpreter:
    """The interpreter named by ``--interpreter`` (``local`` or ``e2b``)."""
    if kind == "local":
        from langchain_tora.interpreters import LocalInterpreter

        return LocalInterpreter(timeout=timeout)
    if kind == "e2b":
        try:
            from langchain_tora.interpreters import E2BInterpreter
        except ImportError as error:
            raise ValueError(
                "--interpreter e2b needs `pip install 'langchain-tora[e2b]'` and E2B_API_KEY"
            ) from error
        return E2BInterpreter(timeout=timeout)
    raise ValueError(f"unknown interpreter {kind!r}: use local or e2b")


def make_chain(args: argparse.Namespace, interpreter: BaseInterpreter) -> Any:
    """A ToRAChain for ``--model`` (a path, a Hub id, ``tiny-tora``, a released checkpoint's
    short name such as ``tora-code-7b``, ``vllm:URL@MODEL`` / ``vllm:MODEL``, or
    ``provider:model``).

    Sampling options the parser may define: ``--temperature``, ``--top-p`` (both
    model kinds) and ``--seed`` (local models only); unset ones keep the model's own.
    """
    from langchain_tora.chain import ToRAChain
    from langchain_tora.models import is_chat_model_spec, load_chat_model

    options: dict[str, Any] = {"interpreter": interpreter, "max_tool_calls": args.max_tool_calls}
    if args.prompt != "auto":
        options["prompt"] = args.prompt
    sampling = {
        name: value
        for name in ("temperature", "top_p", "seed")
        if (value := getattr(args, name, None)) is not None
    }
    from langchain_tora.vllm import is_vllm_spec, llm_from_spec

    if is_vllm_spec(args.model):  # before provider:model, which "vllm:..." also looks like
        return ToRAChain(llm=llm_from_spec(args.model, **sampling), **options)
    if is_chat_model_spec(args.model):
        if sampling.pop("seed", None) is not None:
            print("note: --seed applies to local models only; not passed on", file=sys.stderr)
        return ToRAChain(llm=load_chat_model(args.model, **sampling), **options)
    llm_kwargs: dict[str, Any] = {"device": args.device, **sampling}
    from langchain_tora.models.catalogue import resolve_repo_id

    return ToRAChain.from_pretrained(resolve_repo_id(args.model), llm_kwargs=llm_kwargs, **options)


def _cmd_solve(args: argparse.Namespace) -> int:
    with make_interpreter(args.interpreter, args.timeout) as interpreter:
        chain = make_chain(args, interpreter)
        final: dict[str, Any] = {}
        for chunk in chain.stream(args.question):
            for step in chunk.get("steps", []):
                print(step["text"])
                if step["output"] is not None:
                    print(f"```output\n{step['output']}\n```", flush=True)
            final.update({k: v for k, v in chunk.items() if k != "steps"})
    usage = final["usage"]
    print(f"\nanswer: {final['answer']}")
    print(
        f"({final['tool_calls']} tool calls, stop: {final['stop_reason']}, "
        f"model {usage['model_seconds']:.2f} s, interpreter {usage['interpreter_seconds']:.2f} s)",
        file=sys.stderr,
    )
    return 0 if final["answer"] is not None else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    from langchain_tora.datasets import RELEASED_GSM8K_OUTPUTS, data_file
    from langchain_tora.interpreters import LocalInterpreter
    from langchain_tora.replay import load_records, replay

    path = args.file or data_file(RELEASED_GSM8K_OUTPUTS)
    rows = load_records(path, limit=args.limit)
    print(f"replaying {len(rows)} trajectories from {path}", file=sys.stderr)
    with LocalInterpreter(timeout=args.timeout) as interpreter:
        report = replay(rows, interpreter, output_style=args.style, progress=not args.quiet)
    print(report.summary())
    if report.mismatches and args.show_mismatches:
        print("\noutputs that differ from the recorded ones:")
        for m in report.mismatches:
            print(
                f"  idx {m['idx']} round {m['round']}: recorded {m['recorded']!r}, now {m['replayed']!r}"
            )
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f"report written to {args.report}", file=sys.stderr)
    return 0


def _cmd_regrade(args: argparse.Namespace) -> int:
    from langchain_tora.evaluation import regrade

    report = regrade(args.regrade, tora_compatible=args.tora_compatible, output=args.output)
    print(report.summary())
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.regrade:
        return _cmd_regrade(args)
    from langchain_tora.evaluation import evaluate, load_datasets

    if not args.output:
        raise ValueError(
            "--output DIR is needed: the rows, metrics and reports go there, and running "
            "again with the same DIR resumes the run"
        )
    if args.samples < 1 or args.batch_size < 1:
        raise ValueError("--samples and --batch-size must be at least 1")
    problems = load_datasets(
        args.dataset, data_dir=args.data_dir, limit=args.limit, skip_missing=args.skip_missing
    )
    config: dict[str, Any] = {}
    if args.max_concurrency is not None:
        config["max_concurrency"] = args.max_concurrency
        if args.seed is not None and args.samples > 1 and args.max_concurrency < args.samples:
            print(
                "warning: with --seed, a local model reseeds for each model call, and "
                "--max-concurrency below --samples splits a problem's samples over several "
                "calls, which can then repeat each other",
                file=sys.stderr,
            )
    run_info = {
        "model": args.model,
        "prompt": args.prompt,
        "datasets": list(problems),
        "limit": args.limit,
        "samples": args.samples,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "seed": args.seed,
        "max_tool_calls": args.max_tool_calls,
        "interpreter": args.interpreter,
        "timeout": args.timeout,
        "batch_size": args.batch_size,
        "max_concurrency": args.max_concurrency,
    }
    print(
        f"evaluating {args.model} on {sum(map(len, problems.values()))} problems "
        f"({', '.join(problems)}) into {args.output}",
        file=sys.stderr,
    )
    with make_interpreter(args.interpreter, args.timeout) as interpreter:
        chain = make_chain(args, interpreter)
        prompt_format = getattr(chain, "prompt_format", None)  # "auto" resolved
        run_info["prompt"] = getattr(prompt_format, "name", args.prompt)
        metrics = evaluate(
            chain,
            problems,
            args.output,
            samples=args.samples,
            batch_size=args.batch_size,
            config=config or None,  # type: ignore[arg-type]
            tora_compatible=args.tora_compatible,
            progress=not args.quiet,
            run_info=run_info,
        )
    for name, m in metrics["datasets"].items():
        print(
            f"{name}: {m['accuracy_strict']:.1f} strict, {m['accuracy_compatible']:.1f} "
            f"ToRA-compatible ({m['n']} problems, {m['errors']} errors, {m['timeouts']} timeouts)"
        )
        if m["error_ids"]:
            shown = ", ".join(m["error_ids"][:10])
            more = f" and {len(m['error_ids']) - 10} more" if len(m["error_ids"]) > 10 else ""
            print(f"  failed chain calls: {shown}{more}", file=sys.stderr)
    if "avg" in metrics["paper_average"]:
        print(f"AVG ({metrics['grading']}): {metrics['paper_average']['avg']:.1f}")
    print(f"rows, metrics.json, results.md and results.png in {args.output}", file=sys.stderr)
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from langchain_tora.models.catalogue import download_checkpoint

    path = download_checkpoint(
        args.name,
        allow_patterns=args.include,
        revision=args.revision,
        cache_dir=args.cache_dir,
        local_dir=args.local_dir,
    )
    print(path)
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub_cards import card_for_checkpoint, card_for_run, write_catalogue_cards
    from langchain_tora.models.catalogue import CATALOGUE

    if args.name and (args.repo_id or args.summary or args.metrics):
        raise ValueError("give a released checkpoint's NAME, or --repo-id with --summary/--metrics")
    if args.name:
        names = [c.name for c in CATALOGUE] if args.name == "all" else [args.name]
        try:
            if args.output:
                for path in write_catalogue_cards(args.output, names):
                    print(path)
            else:
                print("\n".join(str(card_for_checkpoint(name)) for name in names))
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        return 0
    if not args.repo_id:
        raise ValueError(
            "name a released checkpoint (tora card tora-code-7b, or all), or describe your "
            "model: tora card --repo-id ID [--summary training_summary.json] [--metrics metrics.json]"
        )
    card = card_for_run(
        args.repo_id,
        summary=args.summary,
        metrics=args.metrics,
        base_model=args.base_model,
        license=args.license,
    )
    if args.output:
        path = Path(args.output) / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        card.save(path)
        print(path)
    else:
        print(card)
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub_cards import card_for_run, plan_push, push_to_hub

    summary = args.summary
    if summary is None and (Path(args.model_dir) / "training_summary.json").is_file():
        summary = Path(args.model_dir) / "training_summary.json"
    card = card_for_run(
        args.repo_id,
        summary=summary,
        metrics=args.metrics,
        base_model=args.base_model,
        license=args.license,
        title=args.title,
    )
    plan = plan_push(args.model_dir, args.repo_id, card, private=args.private)
    if args.dry_run:
        print("dry run: nothing is uploaded and no token is needed")
        print(plan.describe())
        return 0
    print(plan.describe(show_card=False), file=sys.stderr)
    print(push_to_hub(plan, commit_message=args.commit_message))
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The options `solve` and `eval` share: where code runs and how the model is run."""
    p.add_argument(
        "--interpreter",
        choices=["local", "e2b"],
        default="local",
        help="where the code runs (default: the local sandbox)",
    )
    p.add_argument("--max-tool-calls", type=int, default=4)
    p.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default: greedy)"
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (local models)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per execution (default 5)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tora`` (subcommands register themselves here)."""
    parser = argparse.ArgumentParser(
        prog="tora", description="Tool-integrated reasoning (ToRA) for LangChain."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "solve",
        help="solve one problem, printing each step as it happens",
        description="Solve a math problem with the ToRA loop. The default model is a tiny model "
        "for synthetic arithmetic word problems that ships with the package (offline, CPU); "
        "for real problems pass --model llm-agents/tora-code-7b-v1.0 (or another ToRA "
        "checkpoint: a folder or Hub id) or --model openai:gpt-4o (any LangChain chat model).",
    )
    p.add_argument("question", help="the problem text")
    p.add_argument(
        "--model",
        default="tiny-tora",
        help="a model folder, a Hub id, or provider:model for a chat model (default: tiny-tora)",
    )
    p.add_argument(
        "--prompt", default="auto", help="tora, chat, pal or cot (default: by model kind)"
    )
    _add_run_options(p)
    p.set_defaults(handler=_cmd_solve)

    p = sub.add_parser(
        "replay",
        help="re-execute and re-grade recorded ToRA trajectories",
        description="Drive the ToRA loop with a model that replays recorded trajectories: every "
        "python block runs again in the local sandbox, each output is compared with the "
        "recorded one, and the answers are graded against the gold answers.",
    )
    p.add_argument(
        "file",
        nargs="?",
        help="jsonl of ToRA outputs (default: the released "
        "ToRA-Code-34B GSM8K outputs under $TORA_DATA_DIR)",
    )
    p.add_argument("--limit", type=int, default=None, help="replay only the first N rows")
    p.add_argument(
        "--style",
        choices=OUTPUT_STYLES,
        default="2023-10",
        help="how executions are shown to the model (default: 2023-10, the released code)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per execution (default 5)")
    p.add_argument("--report", help="write the report as JSON to this file")
    p.add_argument("--show-mismatches", action="store_true", help="list outputs that differ")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_replay)

    p = sub.add_parser(
        "eval",
        help="evaluate a model on the paper's datasets, or re-grade outputs (--regrade)",
        description="Run the ToRA loop over evaluation datasets and grade the answers. One "
        "jsonl row per problem is written to DIR/<dataset>.jsonl as each chunk finishes; "
        "running again with the same --output resumes without redoing finished problems. "
        "DIR/metrics.json, DIR/results.md (the paper's Table 2 layout) and DIR/results.png "
        "hold the results. With --regrade FILE, re-extract and re-grade recorded outputs "
        "(this command's rows or the released ToRA outputs) instead.",
    )
    p.add_argument(
        "--model",
        default="tiny-tora",
        help="a model folder, a Hub id, or provider:model for a chat model (default: tiny-tora)",
    )
    p.add_argument(
        "--prompt", default="auto", help="tora, chat, pal or cot (default: by model kind)"
    )
    p.add_argument(
        "--dataset",
        default="gsm8k",
        help="a dataset, several comma-separated, 'mawps' (its four subsets) or 'all' "
        "(default: gsm8k)",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N problems of each")
    p.add_argument(
        "--data-dir",
        default=None,
        help="the data directory holding eval/<dataset>/test.jsonl (default: $TORA_DATA_DIR)",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out datasets with no local copy (default: stop before running anything)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=1,
        metavar="K",
        help="trajectories per problem, majority-voted (self-consistency; the paper uses 50)",
    )
    _add_run_options(p)
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (local models)")
    p.add_argument(
        "--output",
        metavar="DIR",
        help="the run's directory (needed; reuse it to resume). With --regrade: a .jsonl "
        "file or a directory (default: FILE's stem + .regraded.jsonl beside it)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="problems per chain.batch call; rows are written after each (default 64)",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="prompts per model call (max_concurrency of the RunnableConfig; default: all)",
    )
    p.add_argument(
        "--tora-compatible",
        action="store_true",
        help="grade with the released grader's leniency (default: strict; the metrics record both)",
    )
    p.add_argument(
        "--regrade", metavar="FILE", help="re-extract and re-grade the rows of FILE instead"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_eval)

    p = sub.add_parser(
        "download",
        help="download a ToRA checkpoint into the Hugging Face cache",
        description="Fetch a model's configs, tokenizer and weights into the Hugging Face cache "
        "(files already there are reused), so that it later loads offline (HF_HUB_OFFLINE=1). "
        "Prints the snapshot folder.",
    )
    p.add_argument(
        "name",
        help="a released checkpoint (tora-code-7b, ToRA-70B, llm-agents/tora-7b-v1.0) or any Hub id",
    )
    p.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="files to fetch, repeatable (default: *.json, tokenizer*, *.model and the "
        "weights: *.safetensors, or *.bin when the repository has no safetensors)",
    )
    p.add_argument("--revision", help="a branch, tag or commit (default: main)")
    p.add_argument("--cache-dir", help="the Hub cache to use (default: $HF_HUB_CACHE)")
    p.add_argument("--local-dir", help="copy the files into this folder instead of the cache")
    p.set_defaults(handler=_cmd_download)

    p = sub.add_parser(
        "card",
        help="print or write a generated model card",
        description="Generate the model card (YAML metadata with the model-index, prompt format, "
        "usage, training recipe, results) of a released checkpoint from the catalogue, or of "
        "your own model from its training_summary.json and `tora eval` metrics.json.",
    )
    p.add_argument("name", nargs="?", help="a released checkpoint (tora-code-34b), or 'all'")
    p.add_argument("--repo-id", help="your model's Hub id (instead of NAME)")
    p.add_argument("--summary", help="training_summary.json written by train/sft.py")
    p.add_argument("--metrics", help="metrics.json written by tora eval")
    p.add_argument("--base-model", help="the base model's Hub id (default: from the summary)")
    p.add_argument("--license", help="the licence id (default: llama2 for Llama-2 bases)")
    p.add_argument("--output", metavar="DIR", help="write README.md file(s) under DIR")
    p.set_defaults(handler=_cmd_card)

    p = sub.add_parser(
        "push",
        help="upload a trained model and its generated card to the Hub",
        description="Create the Hub repository (if needed) and upload the model folder's config, "
        "weights and tokenizer with a generated README.md in one commit. The token comes from "
        "HF_TOKEN or `hf auth login`; it is never printed.",
    )
    p.add_argument("model_dir", help="the saved model (train/sft.py: <output_dir>/final)")
    p.add_argument("repo_id", help="namespace/name on the Hub")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the files (paths and sizes) and show the card; no network, no token",
    )
    p.add_argument("--summary", help="training_summary.json (default: the one in the model folder)")
    p.add_argument("--metrics", help="metrics.json written by tora eval")
    p.add_argument("--base-model", help="the base model's Hub id (default: from the summary)")
    p.add_argument("--license", help="the licence id (default: llama2 for Llama-2 bases)")
    p.add_argument("--title", help="the model's name in the card (default: the repo name)")
    p.add_argument("--commit-message", help="the commit message")
    p.set_defaults(handler=_cmd_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tora`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, ValueError, ImportError, OSError) as error:
        print(f"tora {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


FAST_EXIT_COMMANDS = frozenset({"solve"})
"""Commands after which :func:`run` skips the interpreter's teardown (see there)."""


def run() -> NoReturn:
    """The ``tora`` console script: :func:`main`, then exit.

    After ``tora solve``, whose latency people feel, the process leaves with
    :func:`os._exit` once exit handlers have run and both output streams are flushed:
    by then the command has closed what it opened (the sandbox process, its files),
    and what is skipped is only Python's final teardown of torch's and transformers'
    module graph, about 1 s of the 3.5 s a ``tora solve`` takes on 2 CPU cores.
    Every other command exits normally. Call :func:`main` to use the CLI in-process.

    Example:
        .. code-block:: bash

            tora solve "A farm has 1234 hens and buys 567 more. How many hens now?"
    """
    argv = sys.argv[1:]
    code = main(argv)
    if argv and argv[0] in FAST_EXIT_COMMANDS:
        atexit._run_exitfuncs()  # logging's flush, LangSmith's trace upload, ...
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
