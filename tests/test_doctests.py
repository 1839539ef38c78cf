"""The examples in the docstrings of the core modules run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "langchain_tora.trajectory",
    "langchain_tora.interpreters.base",
    "langchain_tora.prompts.formats",
    "langchain_tora.grading.extract",
    "langchain_tora.grading.normalize",
    "langchain_tora.grading.equal",
    "langchain_tora.datasets.benchmarks",
    "langchain_tora.datasets.synthetic",
    "langchain_tora.models",
    "langchain_tora.models.catalogue",
    "langchain_tora.replay",
    "train.corpus",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring examples failed in {name}"
