"""Prompt formats of the ToRA loop: ``tora``, ``chat``, ``pal`` and ``cot``.

Example:
    >>> from langchain_tora.prompts import get_prompt_format
    >>> get_prompt_format("tora").completion_prompt("1 + 1?")
    '<|user|>\\n1 + 1?\\n<|assistant|>\\n'
"""

from langchain_tora.prompts.formats import (
    PROMPT_FORMATS,
    CoTFormat,
    FewShotFormat,
    PALFormat,
    PromptFormat,
    Round,
    ToRAChatFormat,
    ToRAFormat,
    get_prompt_format,
)

__all__ = [
    "PROMPT_FORMATS",
    "CoTFormat",
    "FewShotFormat",
    "PALFormat",
    "PromptFormat",
    "Round",
    "ToRAChatFormat",
    "ToRAFormat",
    "get_prompt_format",
]
