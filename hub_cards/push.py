"""Publish a trained model to the Hugging Face Hub with its generated card (``tora push``).

:func:`plan_push` decides what goes up: the model folder's config, weights
(``*.safetensors``) and tokenizer files, plus the card as ``README.md``.  A plan can be
shown without any network access (``tora push --dry-run``: every path and size, then the
card).  :func:`push_to_hub` carries it out: ``HfApi.create_repo(repo_id, exist_ok=True,
private=...)`` and then ONE ``HfApi.upload_folder`` call, so that the weights, the
tokenizer and the card land in a single commit.

Why a staging folder: ``upload_folder`` uploads one folder, and the card must not be
written into the user's model folder (it may hold an older ``README.md``, and the folder
should stay as training left it).  So the planned files are symlinked (copied where
symlinks are not allowed) into a temporary folder beside the rendered ``README.md``, and
that folder is uploaded with ``allow_patterns`` naming exactly the planned paths.  No
weights are copied; ``create_commit`` with ``CommitOperationAdd`` would do the same in
one commit, but ``upload_folder`` also validates the card's metadata before hashing.

The token comes from ``token=``, else ``$HF_TOKEN``, else the Hugging Face login
(``huggingface_hub.get_token()``).  It is never printed: errors are re-raised as
:class:`PushError` with the token (and anything shaped like a Hugging Face token)
replaced by ``hf_***``, and log records emitted during the push are redacted the same way.

Example:
    >>> from hub_cards import card_for_run, plan_push, push_to_hub  # doctest: +SKIP
    >>> card = card_for_run("me/tora-code-7b-repro", summary="runs/7b/final/training_summary.json",
    ...                     metrics="runs/eval-7b/metrics.json")  # doctest: +SKIP
    >>> plan = plan_push("runs/7b/final", "me/tora-code-7b-repro", card)  # doctest: +SKIP
    >>> print(plan.describe())  # doctest: +SKIP
    >>> push_to_hub(plan)  # doctest: +SKIP
    'https://huggingface.co/me/tora-code-7b-repro'
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PUSH_PATTERNS",
    "PlannedFile",
    "PushError",
    "PushPlan",
    "plan_push",
    "push_to_hub",
    "redact",
    "resolve_token",
]

DEFAULT_PUSH_PATTERNS: tuple[str, ...] = (
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.model",
    "chat_template.jinja",
    "training_summary.json",
)
"""Top-level files of a model folder that are uploaded (``README.md`` is replaced by the card;
sub-folders such as ``checkpoint-*`` are never uploaded)."""

CARD_PATH = "README.md"
_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{8,}")
REDACTED = "hf_***"


class PushError(OSError):
    """A push failed; the message never contains the token."""


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with each secret, and anything shaped like a Hugging Face token, hidden.

    Example:
        >>> redact("401: bad token hf_abcdefghijklmnop", [])
        '401: bad token hf_***'
        >>> redact("key=s3cr3t-value", ["s3cr3t-value"])
        'key=hf_***'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def resolve_token(token: str | None = None) -> str | None:
    """The token to push with: ``token``, else ``$HF_TOKEN``, else the saved login.

    Example:
        >>> resolve_token("hf_given")
        'hf_given'
    """
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return get_token()


def _kind(name: str) -> str:
    if name == CARD_PATH:
        return "model card (generated)"
    if name.endswith((".safetensors", ".bin")) or name == "model.safetensors.index.json":
        return "weights"
    if name in ("config.json", "generation_config.json"):
        return "config"
    if (
        name.startswith("tokenizer")
        or name
        in {
            "special_tokens_map.json",
            "added_tokens.json",
            "vocab.json",
            "vocab.txt",
            "merges.txt",
            "chat_template.jinja",
        }
        or name.endswith(".model")
    ):
        return "tokenizer"
    return "training record" if name == "training_summary.json" else "other"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


@dataclass(frozen=True)
class PlannedFile:
    """One file of a push."""

    path_in_repo: str
    local_path: Path | None
    """Where it is read from; None for the generated card."""
    size: int
    kind: str
    """``weights``, ``tokenizer``, ``config``, ``model card (generated)``..."""


@dataclass(frozen=True)
class PushPlan:
    """What :func:`push_to_hub` will upload, and where."""

    repo_id: str
    model_dir: Path
    files: tuple[PlannedFile, ...]
    card_text: str
    private: bool = False

    @property
    def total_size(self) -> int:
        """Bytes to upload."""
        return sum(f.size for f in self.files)

    @property
    def allow_patterns(self) -> list[str]:
        """The exact paths uploaded (``upload_folder``'s ``allow_patterns``)."""
        return [f.path_in_repo for f in self.files]

    def describe(self, *, show_card: bool = True) -> str:
        """The plan as text: repository, every path with its size and kind, then the card.

        Example:
            >>> print(plan.describe(show_card=False))  # doctest: +SKIP
            model repo me/m (public): 5 files, 1.2 MB, in one commit
              README.md            3.1 kB  model card (generated)
              ...
        """
        visibility = "private" if self.private else "public"
        width = max(len(f.path_in_repo) for f in self.files)
        lines = [
            f"model repo {self.repo_id} ({visibility}): {len(self.files)} files, "
            f"{_size(self.total_size)}, in one commit",
            *(f"  {f.path_in_repo:<{width}}  {_size(f.size):>9}  {f.kind}" for f in self.files),
        ]
        if show_card:
            lines += ["", f"----- {CARD_PATH} -----", self.card_text.rstrip("\n"), "-----"]
        return "\n".join(lines)


def plan_push(
    model_dir: str | Path,
    repo_id: str,
    card: Any,
    *,
    private: bool = False,
    patterns: Sequence[str] = DEFAULT_PUSH_PATTERNS,
) -> PushPlan:
    """Plan the upload of a model folder and its card (no network).

    ``card`` is a ``huggingface_hub.ModelCard`` or its text.  The folder must hold
    ``config.json``, weights (``*.safetensors``) and tokenizer files: a repository
    without them could not be loaded with ``ToRAChain.from_pretrained``.

    Raises:
        FileNotFoundError: the folder, its config, its weights or its tokenizer is missing.
        ValueError: ``repo_id`` is not ``namespace/name``.

    Example:
        >>> plan = plan_push("runs/7b/final", "me/tora-7b", card)  # doctest: +SKIP
        >>> [f.path_in_repo for f in plan.files]  # doctest: +SKIP
        ['README.md', 'config.json', 'model.safetensors', 'tokenizer.json', ...]
    """
    folder = Path(model_dir).expanduser()
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo id {repo_id!r} must be namespace/name, e.g. me/tora-code-7b-repro")
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    chosen = sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name != CARD_PATH
        and any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns)
    )
    kinds = {p.name: _kind(p.name) for p in chosen}
    missing = [
        what
        for what, ok in (
            ("config.json", "config.json" in kinds),
            ("weights (*.safetensors)", any(p.suffix == ".safetensors" for p in chosen)),
            ("tokenizer files", "tokenizer" in kinds.values()),
        )
        if not ok
    ]
    if missing:
        raise FileNotFoundError(
            f"{folder} has no {', no '.join(missing)}: push the folder that "
            "save_pretrained wrote (train/sft.py: <output_dir>/final)"
        )
    text = card if isinstance(card, str) else str(card)
    files = [PlannedFile(CARD_PATH, None, len(text.encode("utf-8")), _kind(CARD_PATH))]
    files += [PlannedFile(p.name, p, p.stat().st_size, kinds[p.name]) for p in chosen]
    return PushPlan(repo_id, folder, tuple(files), text, private)


@contextmanager
def _staged(plan: PushPlan) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tora-push-") as tmp:
        root = Path(tmp)
        for f in plan.files:
            target = root / f.path_in_repo
            if f.local_path is None:
                target.write_text(plan.card_text, encoding="utf-8")
                continue
            try:
                target.symlink_to(f.local_path.resolve())
            except OSError:  # no symlinks here (Windows without the privilege)
                shutil.copy2(f.local_path, target)
        yield root


class _RedactLogs(logging.Filter):
    def __init__(self, secrets: Sequence[str | None]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


@contextmanager
def _redacted_logs(secrets: Sequence[str | None]) -> Iterator[None]:
    handlers = {
        handler
        for name in (None, "huggingface_hub")
        for handler in logging.getLogger(name).handlers
    }
    guard = _RedactLogs(secrets)
    for handler in handlers:
        handler.addFilter(guard)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(guard)


def _default_api(token: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(token=token)


def push_to_hub(
    plan: PushPlan,
    *,
    token: str | None = None,
    api: Any = None,
    commit_message: str | None = None,
) -> str:
    """Create the repository and upload the plan in one commit; return the model's URL.

    Raises:
        PushError: no token, or the Hub refused; the message is redacted.

    Example:
        >>> push_to_hub(plan_push("runs/7b/final", "me/tora-7b", card))  # doctest: +SKIP
        'https://huggingface.co/me/tora-7b'
    """
    secret = resolve_token(token)
    if not secret:
        raise PushError(
            "no Hugging Face token: set HF_TOKEN or log in with `hf auth login` "
            "(a token with write access)"
        )
    message = commit_message or f"Upload {plan.repo_id} with its model card (tora push)"
    with _redacted_logs([secret]):
        try:
            client = api if api is not None else _default_api(secret)
            url = client.create_repo(
                plan.repo_id, exist_ok=True, private=plan.private, token=secret
            )
            with _staged(plan) as folder:
                client.upload_folder(
                    repo_id=plan.repo_id,
                    folder_path=str(folder),
                    allow_patterns=plan.allow_patterns,
                    commit_message=message,
                    token=secret,
                )
        except Exception as error:
            raise PushError(
                redact(
                    f"pushing to {plan.repo_id} failed: {type(error).__name__}: {error}", [secret]
                )
            ) from None
    return str(url) if url else f"https://huggingface.co/{plan.repo_id}"
