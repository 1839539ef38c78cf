"""Where the evaluation data and the released outputs are read from.

One setting decides it: the environment variable ``TORA_DATA_DIR``.  Without it the
project looks for ``../shared/data`` beside the working directory (the layout of a
checkout) and beside the repository.

The evaluation datasets of the paper (GSM8k, MATH, ..., MAWPS) and their loader are in
:mod:`langchain_tora.datasets.benchmarks` and re-exported here (:func:`load_problems`,
:data:`DATASETS`, :func:`paper_average`, ...).

Example:
    >>> import os
    >>> os.environ["TORA_DATA_DIR"] = "/data/tora"
    >>> str(data_dir())
    '/data/tora'
    >>> del os.environ["TORA_DATA_DIR"]
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "TORA_DATA_DIR"
"""Environment variable naming the reference data directory."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The reference data directory (``$TORA_DATA_DIR``, default ``../shared/data``).

    The directory is not checked: callers that need a file say which one is missing.
    """
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    for candidate in (Path.cwd() / ".." / "shared" / "data", _REPO_ROOT / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return (Path.cwd() / ".." / "shared" / "data").resolve()


def data_file(relative: str) -> Path:
    """A file under :func:`data_dir`, with a clear error when it is missing.

    Example:
        >>> data_file("eval/gsm8k/test.jsonl")  # doctest: +SKIP
        PosixPath('/work/shared/data/eval/gsm8k/test.jsonl')
    """
    path = data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: set {DATA_DIR_ENV} to the directory that holds "
            f"'{relative}' (the reference data, e.g. a copy of shared/data)"
        )
    return path


RELEASED_GSM8K_OUTPUTS = "outputs/tora-code-34b-v1.0/gsm8k/test.jsonl"
"""The released greedy outputs of ``llm-agents/tora-code-34b-v1.0`` on GSM8K (relative path)."""

# The evaluation datasets of the paper (imported last: they use the settings above).
from langchain_tora.datasets.benchmarks import (  # noqa: E402
    DATASETS,
    MAWPS_SUBSETS,
    PAPER_COLUMNS,
    PAPER_DATASETS,
    DatasetFormatError,
    DatasetNotFoundError,
    DatasetSpec,
    Problem,
    column_title,
    load_problems,
    paper_average,
    resolve_datasets,
)

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "MAWPS_SUBSETS",
    "PAPER_COLUMNS",
    "PAPER_DATASETS",
    "RELEASED_GSM8K_OUTPUTS",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "Problem",
    "column_title",
    "data_dir",
    "data_file",
    "load_problems",
    "paper_average",
    "resolve_datasets",
]
