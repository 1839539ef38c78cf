"""The released ToRA checkpoints: what each one is, and how to fetch it.

Six checkpoints were released on the Hugging Face Hub under ``llm-agents`` (Gou et al.,
ICLR 2024, arXiv 2309.17452).  :data:`CATALOGUE` describes each one: its base model,
size, licence, prompt format and the accuracies the authors published for it, and
:func:`get_checkpoint` finds one by its Hub id or a short name (``tora-code-7b``).
:func:`download_checkpoint` fetches one into the Hugging Face cache (``tora download``).

Published numbers that could not be checked against a source are ``None``, never a
guess; each number's source is recorded in :attr:`ReleasedCheckpoint.sources`.

Example:
    >>> from langchain_tora.models.catalogue import get_checkpoint, resolve_repo_id
    >>> ckpt = get_checkpoint("tora-code-34b")
    >>> ckpt.repo_id, ckpt.base_model, ckpt.size
    ('llm-agents/tora-code-34b-v1.0', 'codellama/CodeLlama-34b-Python-hf', '34B')
    >>> ckpt.paper_results["gsm8k"], ckpt.paper_results["math"]
    (80.7, 50.8)
    >>> resolve_repo_id("ToRA-7B"), resolve_repo_id("org/my-model")
    ('llm-agents/tora-7b-v1.0', 'org/my-model')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "CATALOGUE",
    "DEFAULT_DOWNLOAD_PATTERNS",
    "PAPER_URL",
    "RESULT_COLUMNS",
    "SOURCES",
    "TORA_PROMPT_TEMPLATE",
    "ReleasedCheckpoint",
    "download_checkpoint",
    "download_patterns",
    "get_checkpoint",
    "resolve_repo_id",
]

PAPER_URL = "https://arxiv.org/abs/2309.17452"
"""The ToRA paper (Gou et al., ICLR 2024)."""

TORA_PROMPT_TEMPLATE = "<|user|>\n{question}\n<|assistant|>\n"
"""The prompt the released checkpoints were trained with (``prompt="tora"`` of the chain)."""

RESULT_COLUMNS: tuple[str, ...] = (
    "gsm8k",
    "math",
    "gsm-hard",
    "svamp",
    "tabmwp",
    "asdiv",
    "mawps",
    "avg",
)
"""The accuracy columns of the paper's Table 2 (names as in
:mod:`langchain_tora.datasets.benchmarks`), then its AVG column."""

# Where the numbers below come from.  Every value was read from one of these (none is
# derived or remembered); a column no source gave is None.
#
#   readme   microsoft/ToRA README.md, results table "Model | Size | GSM8k | MATH |
#            AVG@10 math tasks" (the same table is in each llm-agents/* model card on the
#            Hub).  "AVG@10 math tasks" is the authors' average over the ten datasets
#            (GSM8k, MATH, GSM-Hard, SVAMP, TabMWP, ASDiv, SingleEQ, SingleOP, AddSub,
#            MultiArith), the paper's AVG column.
#   paper    arXiv 2309.17452 (ICLR 2024 version) as quoted on the project page
#            https://microsoft.github.io/ToRA/ : "ToRA-Code-34B greatly surpasses GPT-4 CoT
#            on competition-level MATH dataset (50.8% vs. 42.5%)", "ToRA-70B ... GSM8k (84.3%
#            ...) and MATH (49.7% ...)", "ToRA-70B generalizes better on TabMWP ... (74.0%
#            vs. 57.5%)".  The README and the released output's metrics file
#            (src/outputs/llm-agents/tora-code-34b-v1.0/math/*.metrics, "Mean score: [51.0]")
#            give 51.0 for ToRA-Code-34B on MATH; Table 2 of the paper gives 50.8.
#   outputs  microsoft/ToRA src/outputs/llm-agents/{tora-code-34b,tora-70b}-v1.0/
#            {gsm8k,math}/*.metrics (greedy decoding of the released checkpoints):
#            34B GSM8k 80.7; 70B GSM8k 84.3, MATH 49.7.
#
# Not found in any source at hand: the GSM-Hard, SVAMP, ASDiv and MAWPS columns of all
# six models and TabMWP of all but ToRA-70B; they stay None (the paper's Table 2 has them).
SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "readme": "microsoft/ToRA README (results table; same as the llm-agents model cards)",
        "paper": "ToRA paper, Table 2 (arXiv 2309.17452, ICLR 2024), as quoted on "
        "https://microsoft.github.io/ToRA/",
        "outputs": "microsoft/ToRA src/outputs/llm-agents/*/*.metrics (released greedy outputs)",
    }
)
"""What each source key of :attr:`ReleasedCheckpoint.sources` means."""

DEFAULT_DOWNLOAD_PATTERNS: tuple[str, ...] = ("*.json", "tokenizer*", "*.model")
"""Files ``tora download`` always fetches: configs, tokenizer files; the weights pattern
(``*.safetensors``, or ``*.bin`` for repositories without safetensors) is added to these
(see :func:`download_patterns`)."""


@dataclass(frozen=True)
class ReleasedCheckpoint:
    """One released ToRA checkpoint.

    Example:
        >>> from langchain_tora.models.catalogue import CATALOGUE
        >>> [c.name for c in CATALOGUE]  # doctest: +NORMALIZE_WHITESPACE
        ['tora-7b', 'tora-13b', 'tora-70b', 'tora-code-7b', 'tora-code-13b', 'tora-code-34b']
    """

    name: str
    """Short name: ``tora-code-7b``."""
    repo_id: str
    """Hub id: ``llm-agents/tora-code-7b-v1.0``."""
    title: str
    """The model's name in the paper: ``ToRA-Code-7B``."""
    base_model: str
    """The Hub id of the model it was fine-tuned from."""
    size: str
    """Parameter count as the paper writes it: ``7B``."""
    learning_rate: float
    """Peak learning rate of its training (released ``src/scripts/train.sh``)."""
    paper_results: Mapping[str, float | None]
    """Published accuracy (percent) per column of :data:`RESULT_COLUMNS`; None: not verified."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """For each non-None result, the key of :data:`SOURCES` it was read from."""
    license: str = "llama2"
    """The licence of the weights (Llama 2 community licence, as the base models)."""
    prompt_format: str = "tora"
    """The chain's prompt format for this checkpoint (see :func:`get_prompt_format`)."""
    prompt_template: str = TORA_PROMPT_TEMPLATE
    """The raw prompt: ``<|user|>\\n{question}\\n<|assistant|>\\n``."""
    note: str = ""
    """What a reader of the numbers should know (a discrepancy between sources)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        unsourced = [
            c for c, v in self.paper_results.items() if v is not None and c not in self.sources
        ]
        if unsourced:  # pragma: no cover - every published number must say where it is from
            raise ValueError(f"{self.name}: results without a source: {unsourced}")

    @property
    def family(self) -> str:
        """``ToRA`` (Llama-2 base) or ``ToRA-Code`` (CodeLlama-Python base)."""
        return "ToRA-Code" if self.name.startswith("tora-code") else "ToRA"

    @property
    def url(self) -> str:
        """The model's page on the Hub."""
        return f"https://huggingface.co/{self.repo_id}"

    def verified_results(self) -> dict[str, float]:
        """The published accuracies that a source confirmed, in Table 2 column order.

        Example:
            >>> get_checkpoint("tora-70b").verified_results()
            {'gsm8k': 84.3, 'math': 49.7, 'tabmwp': 74.0, 'avg': 76.9}
        """
        return {
            column: value
            for column in RESULT_COLUMNS
            if (value := self.paper_results.get(column)) is not None
        }


def _results(**values: float | None) -> Mapping[str, float | None]:
    unknown = set(values) - {c.replace("-", "_") for c in RESULT_COLUMNS}
    if unknown:  # pragma: no cover - a typo in the table below
        raise ValueError(f"unknown result columns {sorted(unknown)}")
    return MappingProxyType(
        {column: values.get(column.replace("-", "_")) for column in RESULT_COLUMNS}
    )


_GSM8K_MATH_AVG = {"gsm8k": "readme", "math": "readme", "avg": "readme"}

CATALOGUE: tuple[ReleasedCheckpoint, ...] = (
    ReleasedCheckpoint(
        name="tora-7b",
        repo_id="llm-agents/tora-7b-v1.0",
        title="ToRA-7B",
        base_model="meta-llama/Llama-2-7b-hf",
        size="7B",
        learning_rate=2e-5,
        paper_results=_results(gsm8k=68.8, math=40.1, avg=62.4),
        sources=_GSM8K_MATH_AVG,
    ),
    ReleasedCheckpoint(
        name="tora-13b",
        repo_id="llm-agents/tora-13b-v1.0",
        title="ToRA-13B",
        base_model="meta-llama/Llama-2-13b-hf",
        size="13B",
        learning_rate=2e-5,
        paper_results=_results(gsm8k=72.7, math=43.0, avg=65.9),
        sources=_GSM8K_MATH_AVG,
    ),
    ReleasedCheckpoint(
        name="tora-70b",
        repo_id="llm-agents/tora-70b-v1.0",
        title="ToRA-70B",
        base_model="meta-llama/Llama-2-70b-hf",
        size="70B",
        learning_rate=1e-5,
        paper_results=_results(gsm8k=84.3, math=49.7, tabmwp=74.0, avg=76.9),
        sources={"gsm8k": "readme", "math": "readme", "tabmwp": "paper", "avg": "readme"},
    ),
    ReleasedCheckpoint(
        name="tora-code-7b",
        repo_id="llm-agents/tora-code-7b-v1.0",
        title="ToRA-Code-7B",
        base_model="codellama/CodeLlama-7b-Python-hf",
        size="7B",
        learning_rate=2e-5,
        paper_results=_results(gsm8k=72.6, math=44.6, avg=66.5),
        sources=_GSM8K_MATH_AVG,
    ),
    ReleasedCheckpoint(
        name="tora-code-13b",
        repo_id="llm-agents/tora-code-13b-v1.0",
        title="ToRA-Code-13B",
        base_model="codellama/CodeLlama-13b-Python-hf",
        size="13B",
        learning_rate=2e-5,
        paper_results=_results(gsm8k=75.8, math=48.1, avg=71.3),
        sources=_GSM8K_MATH_AVG,
    ),
    ReleasedCheckpoint(
        name="tora-code-34b",
        repo_id="llm-agents/tora-code-34b-v1.0",
        title="ToRA-Code-34B",
        base_model="codellama/CodeLlama-34b-Python-hf",
        size="34B",
        learning_rate=1e-5,
        paper_results=_results(gsm8k=80.7, math=50.8, avg=74.8),
        sources={"gsm8k": "readme", "math": "paper", "avg": "readme"},
        note="MATH: 50.8 in the paper's Table 2; the README and the released outputs' metrics "
        "file give 51.0 (the released grader on the released outputs).",
    ),
)
"""The six released checkpoints, ToRA (Llama-2) first, then ToRA-Code (CodeLlama-Python).

Base models and learning rates: the released training script (``src/scripts/train.sh``:
``Llama-2-{size}-hf`` / ``CodeLlama-{size}-Python-hf``, lr 2e-5 for 7B/13B, 1e-5 for
34B/70B)."""


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


_BY_KEY: dict[str, ReleasedCheckpoint] = {}
for _ckpt in CATALOGUE:
    for _alias in (
        _ckpt.name,
        _ckpt.repo_id,
        _ckpt.title,
        _ckpt.repo_id.split("/", 1)[1],
        f"{_ckpt.name}-v1.0",
    ):
        _BY_KEY[_key(_alias)] = _ckpt


def get_checkpoint(name: str) -> ReleasedCheckpoint:
    """The catalogue entry for a short name, Hub id or paper title (case-insensitive).

    Raises:
        KeyError: the name is not a released checkpoint (the message lists them).

    Example:
        >>> get_checkpoint("llm-agents/tora-code-7b-v1.0").name
        'tora-code-7b'
        >>> get_checkpoint("ToRA-Code-13B").repo_id
        'llm-agents/tora-code-13b-v1.0'
    """
    try:
        return _BY_KEY[_key(name)]
    except KeyError:
        known = ", ".join(c.name for c in CATALOGUE)
        raise KeyError(f"{name!r} is not a released ToRA checkpoint; known: {known}") from None


def resolve_repo_id(name: str) -> str:
    """The Hub id of a catalogue name; anything else (a path, another Hub id) as it is.

    An existing local path always wins, so a folder called ``tora-7b`` is not replaced.

    Example:
        >>> resolve_repo_id("tora-code-34b")
        'llm-agents/tora-code-34b-v1.0'
        >>> resolve_repo_id("tiny-tora")
        'tiny-tora'
    """
    if Path(name).expanduser().exists():
        return name
    ckpt = _BY_KEY.get(_key(name))
    return ckpt.repo_id if ckpt is not None else name


def download_patterns(repo_files: Sequence[str]) -> list[str]:
    """The ``allow_patterns`` for a plain download of a repository with these files.

    Configs and tokenizer files, and the weights in one format: ``*.safetensors`` when
    the repository has any, else ``*.bin`` (older checkpoints), so that a repository
    with both is not downloaded twice.

    Example:
        >>> download_patterns(["config.json", "model-00001-of-00002.safetensors"])
        ['*.json', 'tokenizer*', '*.model', '*.safetensors']
        >>> download_patterns(["config.json", "pytorch_model-00001-of-00002.bin"])
        ['*.json', 'tokenizer*', '*.model', '*.bin']
    """
    weights = "*.safetensors" if any(f.endswith(".safetensors") for f in repo_files) else "*.bin"
    return [*DEFAULT_DOWNLOAD_PATTERNS, weights]


def _offline() -> bool:
    return any(
        os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def download_checkpoint(
    name: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    token: str | bool | None = None,
    api: Any = None,
) -> Path:
    """Download a checkpoint (a catalogue name or any Hub id) into the Hub cache.

    Only what the model needs is fetched: ``allow_patterns`` (default: configs,
    tokenizer files and the weights, see :func:`download_patterns`).  Files already in
    the cache are reused; a progress bar shows the rest.  With ``HF_HUB_OFFLINE=1`` the
    cached snapshot is returned without any network access (an error names the command
    to run when it is missing).  Returns the snapshot folder, which
    ``ToRAChain.from_pretrained`` also accepts.

    Example:
        >>> path = download_checkpoint("tora-code-7b")  # doctest: +SKIP
        >>> path = download_checkpoint("org/model", allow_patterns=["*.json"])  # doctest: +SKIP
    """
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'downloading checkpoints needs huggingface_hub: pip install "langchain-tora[local]"'
        ) from error

    repo_id = resolve_repo_id(name)
    offline = _offline()
    patterns = list(allow_patterns) if allow_patterns else None
    if patterns is None:
        if offline:
            patterns = [*DEFAULT_DOWNLOAD_PATTERNS, "*.safetensors", "*.bin"]
        else:
            client = api if api is not None else HfApi()
            files = client.list_repo_files(repo_id, revision=revision, token=token)
            patterns = download_patterns(files)
    try:
        path = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            local_dir=local_dir,
            allow_patterns=patterns,
            token=token,
            local_files_only=offline,
        )
    except Exception as error:
        if offline:
            raise OSError(
                f"{repo_id!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: "
                f"run `tora download {name}` with network access first ({error})"
            ) from None
        raise
    return Path(path)
