"""A small pool of helper processes that run sympy under a hard time limit.

Why processes: ``simplify``/``evalf`` on hostile input can run for hours, and no
Python thread can be interrupted from outside (``signal.alarm`` only works in the
main thread).  A process can be killed.  So the symbolic step of grading is sent to
a helper process, and a helper that overruns its time limit is killed (and a fresh
one started on the next request).

How:

* helpers are plain ``subprocess`` children running ``_symbolic.py`` by path (not
  ``multiprocessing``: its ``spawn``/``forkserver`` start methods re-import the
  caller's ``__main__``, which re-runs an unguarded evaluation script, and ``fork``
  is unsafe in a threaded process);
* one JSON line per request and per reply over the helper's stdin/stdout; the
  parent waits for the reply with a ``selectors`` deadline;
* the pool starts helpers lazily, up to ``max_workers`` (default: the number of
  CPUs, at most 4), hands each to one thread at a time, and kills them at exit;
* a helper is started once and reused (start-up, about one second, is sympy's
  import), so the cost per request is the sympy work plus well under a
  millisecond of transport;
* after ``fork()`` a child process does not reuse its parent's helpers.

The time limit counts from the moment a helper takes the request: waiting for a
free helper (when more threads than helpers grade at once) and starting one are
not counted.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["SymbolicPool", "default_pool", "shutdown"]

logger = logging.getLogger(__name__)

_SCRIPT = Path(__file__).with_name("_symbolic.py")
STARTUP_TIMEOUT = 60.0
"""Seconds a new helper may take to import sympy and say it is ready."""
RETRY_AFTER = 30.0
"""After a helper failed to start, seconds during which no new start is tried."""


class _Timeout(Exception):
    pass


class _Helper:
    """One helper process and its reply buffer."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self._stdin = self.process.stdin
        self._fd = self.process.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._buffer = b""
        self._next_id = 0
        try:
            ready = self._read(time.monotonic() + STARTUP_TIMEOUT)
        except BaseException:
            self.kill()
            raise
        if not ready.get("ready"):
            self.kill()
            raise RuntimeError(f"unexpected greeting from the grading helper: {ready!r}")

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise _Timeout
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError("the grading helper exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def request(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one job and wait for its reply; :class:`_Timeout` past ``timeout``."""
        self._next_id += 1
        job = {**job, "id": self._next_id}
        deadline = time.monotonic() + timeout
        self._stdin.write((json.dumps(job) + "\n").encode())
        self._stdin.flush()
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                return reply

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self._selector.close()
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


class SymbolicPool:
    """Helper processes for time-bounded symbolic comparison.

    Thread-safe.  Each request runs in one helper; a helper that overruns is killed.

    Example:
        >>> pool = SymbolicPool(max_workers=1)
        >>> pool.compare(r"\\sqrt{8}", r"2\\sqrt{2}", timeout=5.0)
        True
        >>> pool.run({"op": "sleep", "seconds": 10}, timeout=0.2) is None  # killed
        True
        >>> pool.close()
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or max(1, min(4, os.cpu_count() or 1))
        self._condition = threading.Condition()
        self._idle: list[_Helper] = []
        self._count = 0
        self._pid = os.getpid()
        self._unavailable_until = 0.0
        self.requests = 0
        """How many requests were sent to helpers."""
        self.started = 0
        """How many helpers this pool started (a restart after a kill counts)."""
        self.killed = 0
        """How many helpers were killed for overrunning their time limit."""

    def _forget_inherited(self) -> None:
        # After fork(): the helpers belong to the parent; start our own.
        if os.getpid() != self._pid:
            self._idle, self._count, self._pid = [], 0, os.getpid()

    def _acquire(self) -> _Helper | None:
        with self._condition:
            while True:
                self._forget_inherited()
                if self._idle:
                    return self._idle.pop()
                if time.monotonic() < self._unavailable_until:
                    return None
                if self._count < self.max_workers:
                    self._count += 1
                    break
                self._condition.wait()
        try:
            helper = _Helper()
        except Exception as exc:
            logger.warning("symbolic grading unavailable: cannot start a helper: %s", exc)
            with self._condition:
                self._count -= 1
                self._unavailable_until = time.monotonic() + RETRY_AFTER
                self._condition.notify()
            return None
        with self._condition:
            self.started += 1
        return helper

    def _release(self, helper: _Helper, healthy: bool) -> None:
        if not healthy:
            helper.kill()
        with self._condition:
            if os.getpid() != self._pid:
                return
            if healthy:
                self._idle.append(helper)
            else:
                self._count -= 1
            self._condition.notify()

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Run one job in a helper: its reply, or None (timed out, or no helper)."""
        helper = self._acquire()
        if helper is None:
            return None
        with self._condition:
            self.requests += 1
        healthy = False
        try:
            reply = helper.request(job, timeout)
            healthy = True
            return reply
        except _Timeout:
            with self._condition:
                self.killed += 1
            return None
        except Exception as exc:  # the helper died (memory limit ...)
            logger.debug("grading helper failed: %s", exc)
            return None
        finally:
            self._release(helper, healthy)

    def compare(
        self, a: str, b: str, *, tolerance: float = 1e-4, timeout: float = 3.0
    ) -> bool | None:
        """Symbolic equality of two normalised answers; None when undecided in time."""
        reply = self.run({"op": "equal", "a": a, "b": b, "tolerance": tolerance}, timeout)
        if reply is None or "result" not in reply:
            return None
        return bool(reply["result"])

    def close(self) -> None:
        """Stop the idle helpers.

        A busy helper goes back to the pool when its request ends; every helper
        exits by itself when this process does (its stdin closes).
        """
        with self._condition:
            idle, self._idle = self._idle, []
            if os.getpid() == self._pid:
                self._count -= len(idle)
        for helper in idle:
            helper.kill()


_default: SymbolicPool | None = None
_default_lock = threading.Lock()


def default_pool() -> SymbolicPool:
    """The process-wide pool used by :func:`~langchain_tora.grading.math_equal`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SymbolicPool()
        return _default


def shutdown() -> None:
    """Stop the helpers of the process-wide pool (run at interpreter exit)."""
    with _default_lock:
        pool = _default
    if pool is not None:
        pool.close()


def _forget_default_after_fork() -> None:
    # A forked child must neither share its parent's helpers nor inherit a lock
    # that another parent thread held at the time of the fork.
    global _default, _default_lock
    _default, _default_lock = None, threading.Lock()


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_after_fork)
