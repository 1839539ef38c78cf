"""Replay the released ToRA-Code-34B GSM8K trajectories through the loop and the sandbox.

The scripted model writes, round by round, what ToRA-Code-34B wrote; every python block
runs again in ``LocalInterpreter`` with the 2023-10 output style.  At least 99% of the
executions must show the model exactly the recorded output, and grading the chain's
answers against ``gt`` (ToRA-compatible mode) must give the released 80.7.
"""

from __future__ import annotations

import json

import pytest

from langchain_tora.datasets import RELEASED_GSM8K_OUTPUTS
from langchain_tora.replay import load_records, replay


@pytest.mark.slow
def test_replay_of_released_outputs(shared_data, interpreter):
    rows = load_records(shared_data / RELEASED_GSM8K_OUTPUTS)
    assert len(rows) == 1319
    report = replay(rows, interpreter, output_style="2023-10")
    assert report.recorded_executions >= 1300
    assert report.match_rate >= 0.99, report.mismatches[:20]
    assert report.accuracy_compatible == pytest.approx(80.7, abs=0.2)


def test_replay_reports_a_changed_output(interpreter, tmp_path):
    traj = "```python\nprint(6 * 7)\n```\n```output\n43\n```\nSo $\\boxed{43}$."
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"idx": 0, "question": "6*7?", "gt": "42", "code": [traj]}) + "\n")
    report = replay(load_records(path), interpreter)
    assert report.recorded_executions == 1 and report.matched == 0
    assert report.mismatches == [{"idx": 0, "round": 0, "recorded": "43", "replayed": "42"}]
    assert report.correct_compatible == 0


def test_load_records_rejects_other_files(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q"}\n')
    with pytest.raises(ValueError, match="not a ToRA output row"):
        load_records(path)
