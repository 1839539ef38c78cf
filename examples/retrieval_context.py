"""Retrieval in front of ToRA: facts from a formula sheet go into the question.

An LCEL chain retrieves the most relevant entries of a small formula sheet with BM25
(``rank_bm25``, offline), formats them, and hands ``{"question", "context"}`` to
:class:`~langchain_tora.ToRAChain`, whose ``question_template`` puts the facts in
front of the question the model reads.

.. code-block:: bash

    python examples/retrieval_context.py
    python examples/retrieval_context.py --model openai:gpt-4o-mini   # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, cast

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseLanguageModel, GenericFakeChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableParallel, RunnablePassthrough
from pydantic import PrivateAttr
from rank_bm25 import BM25Okapi

from langchain_tora import ToRAChain
from langchain_tora.interpreters import BaseInterpreter, LocalInterpreter

QUESTION_TEMPLATE = "Useful facts:\n{context}\n\nQuestion: {question}"

QUESTION = (
    "A circular flower bed has a radius of 7 meters. "
    "What is its area, rounded to the nearest square meter?"
)

TORA_ROUNDS = [
    "The facts give the area of a circle as pi times the radius squared.\n"
    "```python\nimport math\nprint(round(math.pi * 7**2))\n```",
    "The flower bed covers about $\\boxed{154}$ square meters.",
]

FORMULA_SHEET = [
    Document(
        "Circle: area A = pi * r**2 for radius r; circumference C = 2 * pi * r.",
        metadata={"topic": "circle circular disk area circumference radius diameter pi"},
    ),
    Document(
        "Right triangle: the legs a, b and the hypotenuse c satisfy a**2 + b**2 = c**2.",
        metadata={"topic": "pythagorean theorem triangle hypotenuse legs"},
    ),
    Document(
        "Triangle: area = base * height / 2; Heron: sqrt(s(s-a)(s-b)(s-c)), s = (a+b+c)/2.",
        metadata={"topic": "triangle area base height heron sides"},
    ),
    Document(
        "Quadratic equation a*x**2 + b*x + c = 0: x = (-b ± sqrt(b**2 - 4*a*c)) / (2*a).",
        metadata={"topic": "quadratic equation roots discriminant solve"},
    ),
    Document(
        "Arithmetic series: the sum of n terms from a_1 to a_n is n * (a_1 + a_n) / 2.",
        metadata={"topic": "arithmetic sequence series sum terms consecutive"},
    ),
    Document(
        "Geometric series: a + a*r + ... + a*r**(n-1) = a * (1 - r**n) / (1 - r) for r != 1.",
        metadata={"topic": "geometric sequence series ratio sum"},
    ),
    Document(
        "Simple interest: I = P * r * t; compound interest: A = P * (1 + r/n)**(n*t).",
        metadata={"topic": "interest principal rate years compound simple money bank"},
    ),
    Document(
        "Percent change = (new - old) / old * 100; a p% discount multiplies a price by (1 - p/100).",
        metadata={"topic": "percent percentage change discount increase decrease price"},
    ),
    Document(
        "Distance = speed * time; average speed = total distance / total time.",
        metadata={"topic": "speed distance time rate travel average"},
    ),
    Document(
        "Combinations: C(n, k) = n! / (k! * (n-k)!); permutations: P(n, k) = n! / (n-k)!.",
        metadata={
            "topic": "combinations permutations choose chosen ways committee counting factorial"
        },
    ),
    Document(
        "Rectangle: area = length * width; perimeter = 2 * (length + width). Square: area = side**2.",
        metadata={"topic": "rectangle square area perimeter length width side"},
    ),
]
"""A small formula sheet (one fact per document)."""

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "to",
        "in",
        "is",
        "are",
        "for",
        "by",
        "at",
        "its",
        "it",
        "what",
        "how",
        "many",
        "much",
    ]
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stop words or a plural ``s`` (what BM25 indexes and queries).

    Example:
        >>> tokenize("The areas of circles")
        ['area', 'circle']
    """
    words = (w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


class FormulaSheetRetriever(BaseRetriever):
    """BM25 over a list of documents (their text and their ``topic`` keywords).

    Example:
        >>> retriever = FormulaSheetRetriever(documents=FORMULA_SHEET, k=1)
        >>> retriever.invoke("area of a circle")[0].page_content[:6]
        'Circle'
    """

    documents: list[Document]
    k: int = 2
    _index: BM25Okapi = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        corpus = [
            tokenize(f"{d.page_content} {d.metadata.get('topic', '')}") for d in self.documents
        ]
        self._index = BM25Okapi(corpus)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        scores = self._index.get_scores(tokenize(query))
        ranked = sorted(range(len(self.documents)), key=lambda i: scores[i], reverse=True)
        return [self.documents[i] for i in ranked[: self.k] if scores[i] > 0]


def format_facts(documents: list[Document]) -> str:
    """The retrieved facts as a bullet list."""
    return "\n".join(f"- {d.page_content}" for d in documents)


def build_chain(
    llm: BaseLanguageModel, interpreter: BaseInterpreter, *, k: int = 2
) -> Runnable[str, Any]:
    """question -> {question, context} -> ToRAChain (the facts fill ``question_template``)."""
    retriever = FormulaSheetRetriever(documents=FORMULA_SHEET, k=k)
    tora = ToRAChain(llm=llm, interpreter=interpreter, question_template=QUESTION_TEMPLATE)
    gather = RunnableParallel(question=RunnablePassthrough(), context=retriever | format_facts)
    return gather | cast(Runnable[dict[str, Any], Any], tora)


def main(argv: Sequence[str] | None = None) -> str | None:
    """Solve the example question with retrieved facts; returns (and prints) the answer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fake", help="'fake' or a provider:model string")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    if args.model == "fake":
        llm: BaseLanguageModel = GenericFakeChatModel(messages=iter(TORA_ROUNDS))
    else:
        from langchain_tora.models import load_chat_model

        llm = load_chat_model(args.model, temperature=0)
    with LocalInterpreter(timeout=10) as python:
        out = build_chain(llm, python).invoke(args.question)
    print(out["trajectory"])
    print("answer:", out["answer"])
    return out["answer"]


if __name__ == "__main__":
    main()
