"""The ``tora`` command.

Subcommands:

* ``tora solve "QUESTION"``: solve one problem, printing each step as it happens
  (default model: the packaged tiny model for synthetic arithmetic);
* ``tora replay [FILE]``: re-execute and re-grade recorded ToRA trajectories (by
  default the released ToRA-Code-34B GSM8K outputs under ``$TORA_DATA_DIR``).

Example:
    .. code-block:: bash

        tora solve "A farm has 1234 hens and buys 567 more. How many hens now?"
        tora solve --model llm-agents/tora-code-7b-v1.0 "What is the sum of the first 100 primes?"
        tora solve --model openai:gpt-4o --interpreter e2b "Solve x^2 - 5x + 6 = 0."
        tora replay --limit 100
        tora replay my_outputs.jsonl --style 2023-11 --report report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from langchain_tora.interpreters import OUTPUT_STYLES, BaseInterpreter


def make_interpreter(kind: str, timeout: float) -> BaseInterpreter:
    """The interpreter named by ``--interpreter`` (``local`` or ``e2b``)."""
    if kind == "local":
        from langchain_tora.interpreters import LocalInterpreter

        return LocalInterpreter(timeout=timeout)
    if kind == "e2b":
        try:
            from langchain_tora.interpreters import E2BInterpreter  # type: ignore[attr-defined]
        except ImportError as error:
            raise ValueError(
                "--interpreter e2b needs `pip install 'langchain-tora[e2b]'` and E2B_API_KEY"
            ) from error
        return E2BInterpreter(timeout=timeout)
    raise ValueError(f"unknown interpreter {kind!r}: use local or e2b")


def make_chain(args: argparse.Namespace, interpreter: BaseInterpreter) -> Any:
    """A ToRAChain for ``--model`` (a path, a Hub id, ``tiny-tora`` or ``provider:model``)."""
    from langchain_tora.chain import ToRAChain
    from langchain_tora.models import is_chat_model_spec, load_chat_model

    options: dict[str, Any] = {"interpreter": interpreter, "max_tool_calls": args.max_tool_calls}
    if args.prompt != "auto":
        options["prompt"] = args.prompt
    if is_chat_model_spec(args.model):
        chat_kwargs = {"temperature": args.temperature} if args.temperature is not None else {}
        return ToRAChain(llm=load_chat_model(args.model, **chat_kwargs), **options)
    llm_kwargs: dict[str, Any] = {"device": args.device}
    if args.temperature is not None:
        llm_kwargs["temperature"] = args.temperature
    return ToRAChain.from_pretrained(args.model, llm_kwargs=llm_kwargs, **options)


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
        "--interpreter",
        choices=["local", "e2b"],
        default="local",
        help="where the code runs (default: the local sandbox)",
    )
    p.add_argument(
        "--prompt", default="auto", help="tora, chat, pal or cot (default: by model kind)"
    )
    p.add_argument("--max-tool-calls", type=int, default=4)
    p.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default: greedy)"
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (local models)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per execution (default 5)")
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


if __name__ == "__main__":
    raise SystemExit(main())
