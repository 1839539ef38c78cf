"""The local sandbox: each snippet runs in a child forked from a warm "zygote".

The zygote is a fresh Python interpreter (started with :mod:`subprocess`, never a
fork of the caller) with a scrubbed environment and ``sympy``/``numpy`` already
imported.  For every snippet it forks a child, so a run costs a fork (milliseconds)
instead of an interpreter start (about a second with sympy).  On Linux the zygote
lives in new PID, network and mount namespaces, each child is PID 1 of a PID
namespace of its own (when it exits, the kernel kills everything it started), and
when the caller is root the child drops to an unprivileged user.  See
``docs/threat-model.md`` for what this does and does not protect against.

Example:
    >>> from langchain_tora.interpreters import LocalInterpreter
    >>> with LocalInterpreter(timeout=5) as python:  # doctest: +SKIP
    ...     python.run("from sympy import *; x = symbols('x'); print(solve(x**2 - 4, x))").stdout
    '[-2, 2]\\n'
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Self

from langchain_tora.interpreters import _sandbox_zygote as _zygote
from langchain_tora.interpreters.base import BaseInterpreter, Execution

logger = logging.getLogger(__name__)

DEFAULT_PRELOAD: tuple[str, ...] = (
    "math",
    "cmath",
    "fractions",
    "decimal",
    "itertools",
    "functools",
    "collections",
    "statistics",
    "random",
    "re",
    "string",
    "datetime",
    "numpy",
    "sympy",
)
"""Modules the zygote imports once, so that snippets importing them pay nothing."""

DEFAULT_WARMUP = """\
from sympy import *
x, y = symbols('x y')
solve(x**2 - 4, x); solve([x + y - 3, x - y - 1], [x, y])
simplify((x**2 - 1) / (x - 1)); expand((x + y)**3); factor(x**2 - y**2)
Rational(1, 3) + Rational(1, 6); sqrt(8); N(pi, 20); nsimplify(0.5)
print(solve(x**2 - 4, x), Rational(1, 3))
import numpy as np
np.array([1.0, 2.0]).sum()
"""
"""Code the zygote runs once before forking, so lazily initialised paths are warm.

Its effects (sympy's caches) are shared by every child; they do not change results.
"""

MAX_CODE_CHARS = 16 << 20
"""Longest snippet accepted (model-written code is a few kilobytes)."""

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


class SandboxStartError(RuntimeError):
    """The sandbox's zygote process could not be started."""


class _Pending:
    """A result that the reader thread will deliver."""

    __slots__ = ("_callbacks", "_event", "_lock", "value")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Any] = []
        self.value: Any = None

    def resolve(self, value: Any) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.value = value
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(value)

    def add_callback(self, callback: Any) -> None:
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback(self.value)

    def wait(self) -> Any:
        self._event.wait()
        return self.value


class _ZygoteClient:
    """The caller's end of one zygote process: pipes, a reader thread, pending runs."""

    def __init__(
        self,
        argv: list[str],
        config: dict[str, Any],
        env: dict[str, str],
        base: str,
        startup_timeout: float,
    ) -> None:
        self.base = base
        self.alive = True
        self.info: dict[str, Any] = {}
        self.hang_after: float | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._last_activity = time.monotonic()
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the zygote
        config = {**config, "request_fd": req_r, "response_fd": resp_w}
        try:
            self.process = subprocess.Popen(
                [*argv, json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(req_r, resp_w),
                env=env,
                cwd=base,
                start_new_session=True,  # no terminal signals (Ctrl-C) reach the sandbox
            )
        except BaseException:
            self._close_files()
            raise
        finally:  # the zygote's ends of the pipes belong to the zygote now
            os.close(req_r)
            os.close(resp_w)
        self._frames = _zygote.FrameBuffer(1 << 31)
        try:
            self.info = self._handshake(startup_timeout)
        except BaseException:
            self.kill()
            self._close_files()
            raise
        self._reader = threading.Thread(
            target=self._read_loop, name="tora-sandbox-reader", daemon=True
        )
        self._reader.start()

    # ------------------------------------------------------------ start / read

    def _handshake(self, startup_timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + startup_timeout
        poller = select.poll()
        poller.register(self._resp_r, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxStartError(
                    f"the sandbox zygote did not start within {startup_timeout:g} s{self._stderr_tail()}"
                )
            if not poller.poll(left * 1000):
                continue
            data = os.read(self._resp_r, 1 << 16)
            if not data:
                self.process.wait(timeout=5)
                raise SandboxStartError(
                    f"the sandbox zygote exited during start-up (status {self.process.returncode})"
                    f"{self._stderr_tail()}"
                )
            messages = self._frames.feed(data)
            if messages:
                message = messages[0]
                if message.get("op") != "ready":
                    raise SandboxStartError(
                        f"unexpected first message from the sandbox zygote: {message!r}"
                    )
                return message

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read()[-4000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f":\n{text}" if text else ""

    def _read_loop(self) -> None:
        reason = "the sandbox zygote exited"
        poller = select.poll()
        poller.register(self._resp_r, select.POLLIN)
        try:
            while True:
                if not poller.poll(1000):
                    if self._hung():
                        reason = "the sandbox zygote stopped answering and was killed"
                        self.kill()
                    continue
                data = os.read(self._resp_r, 1 << 20)
                if not data:
                    break
                with self._lock:
                    self._last_activity = time.monotonic()
                for message in self._frames.feed(data):
                    self._dispatch(message)
        except (OSError, ValueError) as exc:
            reason = f"lost the sandbox zygote: {exc}"
        finally:
            self._die(reason)

    def _hung(self) -> bool:
        with self._lock:
            if not self._pending or self.hang_after is None:
                return False
            return time.monotonic() - self._last_activity > self.hang_after

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self._lock:
            pending = self._pending.pop(message.get("id", -1), None)
        if pending is None:
            return
        if message.get("op") == "result":
            pending.resolve(
                Execution(
                    stdout=message["stdout"],
                    error=message["error"],
                    timed_out=message["timed_out"],
                    duration=message["duration"],
                    stderr=message["stderr"],
                )
            )
        else:
            pending.resolve(None)

    def _die(self, reason: str) -> None:
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        failure = Execution(error=f"SandboxError: {reason} while this snippet was pending")
        for item in pending.values():
            item.resolve(failure)

    # ------------------------------------------------------------ requests

    def prepare(
        self, messages: list[dict[str, Any]], hang_after: float | None
    ) -> tuple[list[_Pending], bytes]:
        """Register one pending result per message; return them and the bytes to send."""
        pendings = []
        frames = []
        with self._lock:
            if not self.alive:
                failure = Execution(error="SandboxError: the sandbox zygote is not running")
                done = [_Pending() for _ in messages]
                for item in done:
                    item.resolve(failure)
                return done, b""
            if not self._pending:
                self._last_activity = time.monotonic()
            self.hang_after = hang_after
            for message in messages:
                request_id = next(self._ids)
                pending = self._pending[request_id] = _Pending()
                pendings.append(pending)
                frames.append(_zygote.encode_frame({**message, "id": request_id}))
        return pendings, b"".join(frames)

    def send(self, data: bytes) -> None:
        if not data:
            return
        try:
            with self._send_lock:
                _zygote.write_all(self._req_w, data)
        except OSError as exc:  # the reader thread sees the end of file and fails the runs
            logger.debug("sandbox: sending to the zygote failed: %s", exc)
            self.kill()

    # ------------------------------------------------------------ stop

    def kill(self) -> None:
        """SIGKILL the bootstrap process; the zygote and every child die with it."""
        with contextlib.suppress(OSError):
            self.process.kill()

    def shutdown(self, grace: float = 2.0) -> None:
        """Ask the zygote to exit, then make sure it did; release pipes and files."""
        try:
            with self._send_lock:
                _zygote.write_all(self._req_w, _zygote.encode_frame({"op": "exit"}))
        except OSError:
            pass
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._close_files()
        shutil.rmtree(self.base, ignore_errors=True)

    def _close_files(self) -> None:
        """Close our pipe ends once (a second close could hit a reused descriptor)."""
        fds, (self._req_w, self._resp_r) = (self._req_w, self._resp_r), (-1, -1)
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stderr.close()


_LIVE: weakref.WeakSet[LocalInterpreter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for interpreter in list(_LIVE):
        with contextlib.suppress(Exception):  # at exit, do what can be done
            interpreter.close()


class LocalInterpreter(BaseInterpreter):
    """Runs untrusted snippets in forked children of a warm, isolated zygote process.

    Semantics follow the released ToRA inference code: ``exec(code, {})`` in a fresh
    globals dict (only ``__builtins__``; ``__name__`` is not set, so it resolves to
    the builtins module's ``"builtins"`` and an ``if __name__ == "__main__":`` block
    is silently skipped, as it was there), stdout captured, and on an exception
    (``SystemExit`` included) the error is the last line of ``traceback.format_exc()``.
    Unlike that code, ``input(`` and ``os.system(`` are not refused up front: stdin is
    ``/dev/null`` (``input()`` raises ``EOFError``) and the call runs in the sandbox.

    Limits, per snippet: wall-clock ``timeout`` (the child, and everything it
    started, is killed), ``memory_limit`` (address space), ``cpu_time_limit``,
    ``max_output`` (stdout and stderr are cut in the middle), ``max_file_size``,
    ``max_processes``.  Each snippet gets a temporary working directory (also its
    ``HOME`` and ``TMPDIR``) that is deleted afterwards; no process it started
    survives the call.  On Linux with namespaces, snippets have no network, see
    only their own processes (a private ``/proc``), and find every file system
    read-only but their working directory.  :attr:`isolation` tells what this
    machine allowed; a missing layer is logged, not fatal.  The zygote starts lazily
    on the first call (or :meth:`start`) and is restarted transparently if it dies.

    With ``stateful=True`` a ``session`` id keeps one namespace (and working
    directory) across the runs of a trajectory, in a long-lived child per session;
    processes a round started are killed when the round ends; :meth:`end_session`
    drops the session.  A session killed by a limit (timeout, CPU) is gone: its next
    run starts with a fresh namespace.  Runs without a session id are stateless.

    Thread-safe; :meth:`run_batch` runs up to ``max_workers`` snippets at once.

    Example:
        >>> from langchain_tora.interpreters import LocalInterpreter, render_execution
        >>> python = LocalInterpreter(timeout=5, memory_limit=1 << 30)  # doctest: +SKIP
        >>> python.start().network_isolated  # doctest: +SKIP
        True
        >>> execution = python.run("print(1 / 3)")  # doctest: +SKIP
        >>> execution.stdout, render_execution(execution, "2023-10")  # doctest: +SKIP
        ('0.3333333333333333\\n', '0.3333333333333333')
        >>> python.run_batch(["print(1)", "1/0"])[1].error  # doctest: +SKIP
        'ZeroDivisionError: division by zero'
        >>> with LocalInterpreter(stateful=True) as session_python:  # doctest: +SKIP
        ...     _ = session_python.run("a = 41", session="t1")
        ...     session_python.run("print(a + 1)", session="t1").stdout
        '42\\n'
        >>> python.close()  # doctest: +SKIP
    """

    timeout: float | None
    """Wall-clock seconds a snippet may run (then it is killed; ``timed_out`` is set).
    ``None`` disables the limit (not recommended for model-written code)."""
    memory_limit: int | None
    """Address-space limit of a child in bytes (``RLIMIT_AS``); over it, allocations
    raise ``MemoryError``.  The warm zygote already maps about 150 MB of it."""
    cpu_time_limit: float | None
    """CPU seconds (``RLIMIT_CPU``, rounded up; SIGKILL one second later if the snippet
    ignores SIGXCPU); ``None`` means ``timeout + 1``.  A run stopped by it reports
    ``timed_out``.  In stateful mode it is re-armed before every round (a snippet
    could raise it)."""
    max_output: int
    """Characters of stdout (and of stderr) kept; over it, the middle is replaced by
    a note, so the head and the last lines survive."""
    max_file_size: int | None
    """Largest file a snippet may write, in bytes (``RLIMIT_FSIZE``)."""
    workdir_quota: int
    """Bytes that all working directories of one zygote may hold together (they live
    on a private tmpfs where mount namespaces are available)."""
    max_processes: int | None
    """Fork-bomb brake: processes a snippet may have at once.  Enforced by the PID
    namespace's ``pid_max`` on Linux >= 6.14 (the kernel's floor makes it at least
    300) and, when privileges are dropped, by ``RLIMIT_NPROC`` (which counts all
    the sandbox user's processes).  As root without either, only the timeout stops
    a fork bomb (see ``isolation["process_cap"]``)."""
    max_workers: int
    """Snippets that run at the same time (default: ``os.cpu_count() + 1``); applies from
    the next zygote start."""
    stateful: bool
    """Keep one namespace per ``session`` id across runs."""
    preload: tuple[str, ...]
    """Modules imported by the zygote before it forks."""
    warmup: str | None
    """Code the zygote runs once before forking (``None``: none)."""
    namespaces: bool
    """Use Linux namespaces where the OS allows: PID (one per snippet), network
    (empty), mount (private ``/proc``, read-only file systems, tmpfs working
    directories), and a user namespace when not root.  ``False`` runs with process
    groups only."""
    drop_privileges: bool
    """When the caller is root, run snippets as ``sandbox_uid``/``sandbox_gid``."""
    sandbox_uid: int
    """User id for snippets when dropping privileges (65534, ``nobody``)."""
    sandbox_gid: int
    """Group id for snippets when dropping privileges (65534, ``nogroup``)."""
    env: dict[str, str]
    """Extra environment variables for the sandbox (nothing else is inherited)."""
    python: str
    """The Python executable of the zygote (default: this interpreter)."""
    startup_timeout: float
    """Seconds the zygote may take to start (imports included)."""
    huge_pages: bool
    """Back the zygote's heap with huge pages where the kernel allows (faster forks)."""
    prefork: bool
    """While idle, keep one stateless child forked, jailed and pre-faulted (the
    preloaded modules' namespaces), so that the next run skips that work: lower
    latency for one-at-a-time runs, for a few MB and a few ms of idle CPU."""

    def __init__(
        self,
        *,
        timeout: float | None = 5.0,
        memory_limit: int | None = 1 << 30,
        cpu_time_limit: float | None = None,
        max_output: int = 64 * 1024,
        max_file_size: int | None = 16 << 20,
        max_processes: int | None = 64,
        workdir_quota: int = 1 << 30,
        max_workers: int | None = None,
        stateful: bool = False,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        warmup: str | None = DEFAULT_WARMUP,
        namespaces: bool = True,
        drop_privileges: bool = True,
        sandbox_uid: int = 65534,
        sandbox_gid: int = 65534,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
        startup_timeout: float = 60.0,
        huge_pages: bool = True,
        prefork: bool = True,
    ) -> None:
        """Configure the sandbox; nothing starts until the first run (or :meth:`start`).

        Args: see the attributes of the same names.

        Raises:
            ValueError: on a limit that cannot work (a negative timeout, a memory
                limit under 64 MiB, ...).
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        if memory_limit is not None and memory_limit < 64 << 20:
            raise ValueError(
                f"memory_limit must be at least 64 MiB or None, got {memory_limit!r} "
                "(with the default preloads a child already maps about 150 MB)"
            )
        if cpu_time_limit is not None and not cpu_time_limit > 0:
            raise ValueError(f"cpu_time_limit must be positive or None, got {cpu_time_limit!r}")
        if max_output < 16:
            raise ValueError(f"max_output must be at least 16 characters, got {max_output!r}")
        for name, value in (("max_file_size", max_file_size), ("max_processes", max_processes)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        if workdir_quota < 1 << 20:
            raise ValueError(f"workdir_quota must be at least 1 MiB, got {workdir_quota!r}")
        # One more than the cores: while a child's result travels back over the pipe,
        # the next child is already being forked (about 10% more snippets/s on 2 cores).
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1) + 1
        if workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.cpu_time_limit = cpu_time_limit
        self.max_output = max_output
        self.max_file_size = max_file_size
        self.max_processes = max_processes
        self.workdir_quota = workdir_quota
        self.max_workers = workers
        self.stateful = stateful
        self.preload = tuple(preload)
        self.warmup = warmup
        self.namespaces = namespaces
        self.drop_privileges = drop_privileges
        self.sandbox_uid = sandbox_uid
        self.sandbox_gid = sandbox_gid
        self.env = dict(env or {})
        self.python = python or sys.executable
        self.startup_timeout = startup_timeout
        self.huge_pages = huge_pages
        self.prefork = prefork
        self._client: _ZygoteClient | None = None
        self._lock = threading.Lock()
        _LIVE.add(self)

    def __repr__(self) -> str:
        state = "running" if self._client is not None and self._client.alive else "idle"
        return (
            f"LocalInterpreter(timeout={self.timeout!r}, memory_limit={self.memory_limit!r}, "
            f"max_workers={self.max_workers}, stateful={self.stateful}, {state})"
        )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Self:
        """Start the zygote now (imports and warm-up, ~0.5 s) instead of on first use.

        Raises:
            SandboxStartError: when the zygote cannot start (the message has its stderr).
        """
        self._ensure_client()
        return self

    def _ensure_client(self) -> _ZygoteClient:
        client = self._client
        if client is not None and client.alive:
            return client
        with self._lock:
            client = self._client
            if client is not None and client.alive:
                return client
            if client is not None:  # it died: clean up what is left, then restart
                logger.warning("sandbox: the zygote died; starting a new one")
                client.shutdown(grace=0.0)
            self._client = client = self._spawn()
            return client

    def _spawn(self) -> _ZygoteClient:
        base = tempfile.mkdtemp(prefix="tora-sandbox-")
        os.chmod(base, 0o711)  # the unprivileged sandbox user may enter, not list
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "HOME": base,
            "TMPDIR": base,
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONIOENCODING": "utf-8",
            **dict.fromkeys(_THREAD_VARS, "1"),
            **self.env,
        }
        config = {
            "workdir_base": base,
            "max_workers": self.max_workers,
            "namespaces": self.namespaces,
            "drop_privileges": self.drop_privileges,
            "sandbox_uid": self.sandbox_uid,
            "sandbox_gid": self.sandbox_gid,
            "preload": list(self.preload),
            "warmup": self.warmup,
            "huge_pages": self.huge_pages,
            "prefork": self.prefork,
            "workdir_quota": self.workdir_quota,
        }
        argv = [self.python, "-s", "-P", _zygote.__file__]
        try:
            client = _ZygoteClient(argv, config, env, base, self.startup_timeout)
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise
        info = client.info
        for note in info.get("notes", []):
            logger.info("sandbox: %s", note)
        if not info.get("network_isolated"):
            logger.warning("sandbox: no network namespace here; snippets can use the network")
        if not info.get("pid_isolated") and not info.get("privileges_dropped"):
            logger.warning(
                "sandbox: no PID namespace and same user as the caller; a snippet could "
                "signal the caller's processes and leave setsid() daemons behind"
            )
        return client

    def close(self) -> None:
        """Stop the zygote, every child and every session; delete the temp dirs.

        Safe to call twice; a later run starts a new zygote.
        """
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.shutdown()

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            with contextlib.suppress(Exception):  # best effort at garbage collection
                client.kill()
                shutil.rmtree(client.base, ignore_errors=True)

    # ------------------------------------------------------------------ isolation facts

    def _info(self) -> dict[str, Any]:
        return self._ensure_client().info

    @property
    def network_isolated(self) -> bool:
        """True when snippets run in an empty network namespace (starts the zygote)."""
        return bool(self._info().get("network_isolated"))

    @property
    def pid_isolated(self) -> bool:
        """True when snippets cannot see or signal processes outside their own PID
        namespace, the caller included (starts the zygote)."""
        return bool(self._info().get("pid_isolated"))

    @property
    def privileges_dropped(self) -> bool:
        """True when snippets run as ``sandbox_uid`` instead of root (starts the zygote)."""
        return bool(self._info().get("privileges_dropped"))

    @property
    def isolation(self) -> dict[str, Any]:
        """What the zygote reported at start: isolation flags, preloads, notes."""
        return {k: v for k, v in self._info().items() if k != "op"}

    @property
    def zygote_pid(self) -> int | None:
        """PID (in the caller's namespace) of the process that holds the sandbox; killing
        it kills the zygote and every child.  ``None`` when not running."""
        client = self._client
        return client.process.pid if client is not None and client.alive else None

    # ------------------------------------------------------------------ running

    def _limits(self) -> dict[str, Any]:
        cpu = self.cpu_time_limit
        if cpu is None and self.timeout is not None:
            cpu = self.timeout + 1
        return {
            "timeout": self.timeout,
            "memory": self.memory_limit,
            "cpu": None if cpu is None else math.ceil(cpu),
            "output": self.max_output,
            "fsize": self.max_file_size,
            "nproc": self.max_processes,
        }

    def _messages(
        self, codes: Sequence[str], sessions: Sequence[str | None] | None
    ) -> list[dict[str, Any]]:
        if isinstance(codes, str):
            raise TypeError("run_batch expects a sequence of snippets, not a single string")
        session_list = list(sessions) if sessions is not None else [None] * len(codes)
        if len(session_list) != len(codes):
            raise ValueError(
                f"run_batch: got {len(codes)} snippets but {len(session_list)} sessions"
            )
        limits = self._limits()
        messages = []
        for code, session in zip(codes, session_list, strict=True):
            if not isinstance(code, str):
                raise TypeError(f"a snippet must be a str, got {type(code).__name__}")
            if len(code) > MAX_CODE_CHARS:
                raise ValueError(
                    f"a snippet of {len(code)} characters is over the {MAX_CODE_CHARS} limit"
                )
            if session is not None and not isinstance(session, str):
                raise TypeError(f"a session id must be a str or None, got {type(session).__name__}")
            messages.append(
                {
                    "op": "run",
                    "code": code,
                    "session": session if self.stateful else None,
                    "limits": limits,
                }
            )
        return messages

    def _hang_after(self) -> float | None:
        return None if self.timeout is None else self.timeout + 30.0

    def run(self, code: str, *, session: str | None = None) -> Execution:
        """Run one snippet in a fresh child (or in ``session``'s child when stateful).

        Example:
            >>> LocalInterpreter().run("print(6 * 7)").stdout  # doctest: +SKIP
            '42\\n'
        """
        return self.run_batch([code], sessions=[session])[0]

    def run_batch(
        self, codes: Sequence[str], *, sessions: Sequence[str | None] | None = None
    ) -> list[Execution]:
        """Run snippets concurrently (``max_workers`` at a time); results in order.

        Runs of one stateful session run one after another, in the given order.
        """
        messages = self._messages(codes, sessions)
        if not messages:
            return []
        client = self._ensure_client()
        pendings, data = client.prepare(messages, self._hang_after())
        client.send(data)
        return [pending.wait() for pending in pendings]

    async def arun(self, code: str, *, session: str | None = None) -> Execution:
        """Async twin of :meth:`run`; waits on a future, not on a thread."""
        return (await self.arun_batch([code], sessions=[session]))[0]

    async def arun_batch(
        self, codes: Sequence[str], *, sessions: Sequence[str | None] | None = None
    ) -> list[Execution]:
        """Async twin of :meth:`run_batch`; the event loop is never blocked."""
        messages = self._messages(codes, sessions)
        if not messages:
            return []
        client = self._client
        if client is None or not client.alive:
            client = await asyncio.to_thread(self._ensure_client)
        loop = asyncio.get_running_loop()
        pendings, data = client.prepare(messages, self._hang_after())
        futures = []
        for pending in pendings:
            future = loop.create_future()
            pending.add_callback(
                lambda value, future=future: _resolve_threadsafe(loop, future, value)
            )
            futures.append(future)
        if len(data) > 32 * 1024:  # a pipe holds 64 KiB: a big write may wait on the zygote
            await asyncio.to_thread(client.send, data)
        else:
            client.send(data)
        return list(await asyncio.gather(*futures))

    def end_session(self, session: str) -> None:
        """Kill ``session``'s child and forget its namespace and files (stateful mode).

        A no-op for a stateless interpreter or an unknown session.
        """
        if not self.stateful:
            return
        client = self._client
        if client is None or not client.alive:
            return
        pendings, data = client.prepare([{"op": "end", "session": session}], self._hang_after())
        client.send(data)
        pendings[0].wait()


def _resolve_threadsafe(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any
) -> None:
    def resolve() -> None:
        if not future.done():
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(resolve)
