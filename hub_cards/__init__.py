"""Model cards and Hub publishing for ToRA checkpoints.

* :mod:`hub_cards.card`: cards generated from the catalogue of released checkpoints or
  from a training run's ``training_summary.json`` and ``tora eval``'s ``metrics.json``
  (``tora card``);
* :mod:`hub_cards.push`: create the repository and upload weights, tokenizer and card in
  one commit (``tora push``, ``--dry-run`` to see the plan).

Example:
    >>> from hub_cards import card_for_checkpoint
    >>> card_for_checkpoint("tora-code-7b").data.base_model
    'codellama/CodeLlama-7b-Python-hf'
"""

from hub_cards.card import (
    TEMPLATE_PATH,
    CardSpec,
    EvalMetrics,
    canonical_dataset,
    card_for_checkpoint,
    card_for_run,
    eval_results,
    read_metrics,
    read_training_summary,
    render_card,
    spec_for_checkpoint,
    spec_for_run,
    write_catalogue_cards,
)
from hub_cards.push import (
    DEFAULT_PUSH_PATTERNS,
    PlannedFile,
    PushError,
    PushPlan,
    plan_push,
    push_to_hub,
    redact,
    resolve_token,
)

__all__ = [
    "DEFAULT_PUSH_PATTERNS",
    "TEMPLATE_PATH",
    "CardSpec",
    "EvalMetrics",
    "PlannedFile",
    "PushError",
    "PushPlan",
    "canonical_dataset",
    "card_for_checkpoint",
    "card_for_run",
    "eval_results",
    "plan_push",
    "push_to_hub",
    "read_metrics",
    "read_training_summary",
    "redact",
    "render_card",
    "resolve_token",
    "spec_for_checkpoint",
    "spec_for_run",
    "write_catalogue_cards",
]
