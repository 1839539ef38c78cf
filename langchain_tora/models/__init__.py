"""Models that come with the package, and how a ``--model`` string is resolved.

``tiny-tora`` ships inside the package: a small Llama-architecture model trained on
synthetic arithmetic word problems (see its ``README.md`` and ``train/tiny.py``).  It
is the default of ``tora solve`` so that everything runs offline; it is not a math
model.  For real problems use a released ToRA checkpoint (a Hub id such as
``llm-agents/tora-code-7b-v1.0``) or a chat model (``openai:gpt-4o``).

Example:
    >>> from langchain_tora.models import TINY_MODEL_DIR, is_chat_model_spec
    >>> TINY_MODEL_DIR.name
    'tiny-tora'
    >>> is_chat_model_spec("openai:gpt-4o"), is_chat_model_spec("llm-agents/tora-code-7b-v1.0")
    (True, False)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_MODEL_DIR = Path(__file__).resolve().parent / "tiny-tora"
"""The packaged tiny model (a standard Hugging Face model folder)."""

DEFAULT_MODEL = "tiny-tora"
"""The name ``tora solve`` uses when ``--model`` is not given."""


def is_chat_model_spec(spec: str) -> bool:
    """True for LangChain ``provider:model`` strings (``openai:gpt-4o``), not paths or Hub ids."""
    if Path(spec).expanduser().exists():
        return False
    provider, sep, model = spec.partition(":")
    return bool(sep and provider and model and "/" not in provider)


def resolve_local_model(spec: str) -> str:
    """A local path or Hub id for a ``--model`` value (``tiny-tora`` means the packaged model)."""
    if spec == DEFAULT_MODEL:
        if not (TINY_MODEL_DIR / "config.json").is_file():
            raise FileNotFoundError(
                f"the packaged tiny model is missing from {TINY_MODEL_DIR}; reinstall langchain-tora "
                "or rebuild it with `python -m train.tiny --recipe train/recipes/tiny-tora.yaml`"
            )
        return str(TINY_MODEL_DIR)
    if Path(spec).expanduser().exists():
        return spec
    from langchain_tora.models.catalogue import resolve_repo_id

    return resolve_repo_id(spec)


def load_chat_model(spec: str, **kwargs: Any) -> Any:
    """A LangChain chat model from a ``provider:model`` string (needs ``langchain``)."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as error:
        raise ImportError(
            f"--model {spec!r} names a LangChain chat model: `pip install langchain` and the "
            f"provider's package (e.g. langchain-openai) to use it"
        ) from error
    return init_chat_model(spec, **kwargs)


__all__ = [
    "DEFAULT_MODEL",
    "TINY_MODEL_DIR",
    "is_chat_model_spec",
    "load_chat_model",
    "resolve_local_model",
]
