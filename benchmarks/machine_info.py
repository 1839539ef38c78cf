"""The machine a benchmark ran on, recorded beside its figures in ``benchmarks/results``.

Example:
    >>> from machine_info import machine_info  # benchmarks/ is on sys.path in its scripts
    >>> sorted(machine_info(torch_threads=1))[:2]
    ['cpu_count', 'load_average_1m']
"""

from __future__ import annotations

import os
import platform
from typing import Any


def machine_info(**extra: Any) -> dict[str, Any]:
    """Platform, Python version, core count and 1-minute load, plus ``extra`` fields."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        **extra,
    }
