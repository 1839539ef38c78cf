"""langchain-tora: tool-integrated reasoning (ToRA) for LangChain.

Example:
    >>> from langchain_tora import ToRAChain  # doctest: +SKIP
    >>> chain = ToRAChain(llm=my_llm)  # doctest: +SKIP
    >>> chain.invoke("What is 17 * 23?")["answer"]  # doctest: +SKIP
    '391'
"""

from langchain_tora.chain import (
    EmptyGenerationError,
    ToRAChain,
    ToRAInput,
    ToRAOutput,
    ToRAStep,
    ToRAUsage,
)
from langchain_tora.grading import extract_answer, math_equal
from langchain_tora.interpreters import BaseInterpreter, Execution, LocalInterpreter
from langchain_tora.prompts import PromptFormat, get_prompt_format
from langchain_tora.tools import PythonInterpreterTool

__version__ = "0.1.0"

__all__ = [
    "BaseInterpreter",
    "EmptyGenerationError",
    "Execution",
    "LocalInterpreter",
    "PromptFormat",
    "PythonInterpreterTool",
    "ToRAChain",
    "ToRAInput",
    "ToRAOutput",
    "ToRAStep",
    "ToRAUsage",
    "__version__",
    "extract_answer",
    "get_prompt_format",
    "math_equal",
]
