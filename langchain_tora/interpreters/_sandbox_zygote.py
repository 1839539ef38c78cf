"""The sandbox's zygote: a warm, lean Python process that forks one child per snippet.

:class:`~langchain_tora.interpreters.local.LocalInterpreter` starts this file as a
*fresh* interpreter (``python -s -P _sandbox_zygote.py CONFIG``) with a scrubbed
environment; it never forks the caller.  The file is self-contained on purpose: it
imports only the standard library (plus the modules it is told to preload), so the
sandboxed side never imports ``langchain_tora``.

Process layout on Linux when namespaces are allowed::

    caller ──pipes── bootstrap (waits; its death kills the zygote)
                        └── zygote  = PID 1 of a new PID namespace, in new network
                              │       and mount namespaces, sympy/numpy imported
                              ├── child = PID 1 of its *own* PID namespace: runs one
                              │           snippet, then dies; the kernel then kills
                              │           every process the snippet started
                              ├── spare child (while idle): a child forked, jailed
                              │           and pre-faulted ahead of the next snippet
                              └── session child (stateful mode): like a child, but
                                          lives for the rounds of one trajectory

Caller <-> zygote: frames of a 4-byte big-endian length and ASCII JSON (plain data
only, never pickle)::

    -> {"op": "run", "id": 7, "code": "...", "session": null, "limits": {...}}
    -> {"op": "end", "id": 8, "session": "traj-1"}
    -> {"op": "exit"}
    <- {"op": "ready", "network_isolated": true, ...}            (once, at start)
    <- {"op": "result", "id": 7, "stdout": "...", "stderr": "", "error": null,
        "timed_out": false, "duration": 0.004}
    <- {"op": "ended", "id": 8}

Zygote <-> children, cheaper for a freshly forked process (every page it touches
costs a copy-on-write fault): a child's result is :func:`encode_result` (three
lengths, then UTF-8); a spare child receives its snippet as :func:`encode_code`;
a session child gets JSON frames and answers with length-prefixed results.

Example (what the caller does, by hand)::

    $ python -s -P _sandbox_zygote.py '{"request_fd": 3, "response_fd": 4, ...}'
"""

from __future__ import annotations

import builtins
import ctypes
import gc
import io
import json
import os
import resource
import select
import selectors
import signal
import struct
import sys
import time
import traceback
from collections import deque
from typing import Any

# --------------------------------------------------------------------------- frames

_HEADER = struct.Struct("!I")
# Bound at import: code that runs after a snippet must not look builtins up by name
# (a snippet may have rebound them); loading globals touches no extra pages.
_len, _str, _memoryview, _isinstance, _max, _min = len, str, memoryview, isinstance, max, min
MAX_REQUEST_BYTES = 1 << 30
"""Largest frame the zygote accepts from the caller (one snippet's request)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """One frame: 4-byte length + ASCII JSON.

    Example:
        >>> encode_frame({"op": "exit"})
        b'\\x00\\x00\\x00\\r{"op":"exit"}'
    """
    payload = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return _HEADER.pack(len(payload)) + payload


class FrameBuffer:
    """Incremental decoder for a stream of frames (fed by non-blocking reads).

    Example:
        >>> buffer = FrameBuffer(1024)
        >>> data = encode_frame({"a": 1})
        >>> buffer.feed(data[:3]), buffer.feed(data[3:])
        ([], [{'a': 1}])
    """

    __slots__ = ("_buffer", "_limit")

    def __init__(self, limit: int) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Any]:
        """Add bytes; return the messages completed by them."""
        self._buffer += data
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > self._limit:
                raise ValueError(f"frame of {size} bytes is over the {self._limit}-byte limit")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(json.loads(self._buffer[_HEADER.size : end]))
            del self._buffer[:end]
        return messages


_RESULT = struct.Struct("!III")
_NO_ERROR = 0xFFFFFFFF


def encode_result(result: dict[str, Any]) -> bytes:
    """A child's result as bytes: three lengths, then stdout, stderr and error (UTF-8).

    Cheaper than JSON in a freshly forked child, where every page touched costs a
    copy-on-write fault.

    Example:
        >>> decode_result(encode_result({"stdout": "4\\n", "stderr": "", "error": None}))
        {'stdout': '4\\n', 'stderr': '', 'error': None}
    """
    out = result["stdout"].encode("utf-8", "surrogatepass")
    err = result["stderr"].encode("utf-8", "surrogatepass")
    error = result["error"]
    raw = b"" if error is None else error.encode("utf-8", "surrogatepass")
    return (
        _RESULT.pack(_len(out), _len(err), _NO_ERROR if error is None else _len(raw))
        + out
        + err
        + raw
    )


def result_size(data: bytes | bytearray) -> int | None:
    """Size of the encoded result that ``data`` starts with (None: header incomplete)."""
    if len(data) < _RESULT.size:
        return None
    n_out, n_err, n_error = _RESULT.unpack_from(data)
    return _RESULT.size + n_out + n_err + (0 if n_error == _NO_ERROR else n_error)


def decode_result(data: bytes | bytearray) -> dict[str, Any] | None:
    """Inverse of :func:`encode_result`; None when the bytes are not one result."""
    size = result_size(data)
    if size is None or len(data) != size:
        return None
    n_out, n_err, n_error = _RESULT.unpack_from(data)
    view = memoryview(data)[_RESULT.size :]
    try:
        stdout = str(view[:n_out], "utf-8", "surrogatepass")
        stderr = str(view[n_out : n_out + n_err], "utf-8", "surrogatepass")
        error = (
            None if n_error == _NO_ERROR else str(view[n_out + n_err :], "utf-8", "surrogatepass")
        )
    except UnicodeDecodeError:
        return None
    return {"stdout": stdout, "stderr": stderr, "error": error}


def encode_code(code: str) -> bytes:
    """A snippet for a waiting child: 4-byte length, then UTF-8."""
    data = code.encode("utf-8", "surrogatepass")
    return _HEADER.pack(len(data)) + data


def read_code(fd: int) -> str | None:
    """Inverse of :func:`encode_code` on a blocking descriptor; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    data = _read_exactly(fd, size)
    return None if data is None else str(data, "utf-8", "surrogatepass")


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking file descriptor."""
    view = _memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame_blocking(fd: int, limit: int) -> Any | None:
    """Read one frame from a blocking descriptor; None at end of file."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise ValueError(f"frame of {size} bytes is over the {limit}-byte limit")
    payload = _read_exactly(fd, size)
    if payload is None:
        return None
    return json.loads(payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------- Linux calls

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
_CAP_VERSION_3 = 0x20080522

_libc: Any = None


def _c() -> Any:
    """The C library, loaded on first use (Linux only)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
        _libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return _libc


def _quietly(call: Any, *args: Any) -> bool:
    """Best-effort call: False when it raised ``OSError``, ``KeyError``, ``ValueError``
    or ``AttributeError`` (a C function this system lacks)."""
    try:
        call(*args)
    except (OSError, AttributeError, KeyError, ValueError):
        return False
    return True


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_c().unshare(flags), "unshare")


def _setns(fd: int, nstype: int) -> None:
    _check(_c().setns(fd, nstype), "setns")


def _prctl(option: int, value: int) -> None:
    _check(_c().prctl(option, value, 0, 0, 0), f"prctl({option})")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(_c().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


_CAP_ARGS: Any = None
_RESEED_RANDOM: Any = None
_HARD_LIMITS: dict[int, int] = {}
_raw_fork: Any = None


def use_raw_fork() -> bool:
    """Fork children with the C library's fork() instead of :func:`os.fork`.

    :func:`os.fork` runs CPython's after-fork machinery in the child: the hooks of
    ``threading``, ``logging`` and ``random`` execute Python code that touches some
    hundred pages of the zygote's heap, each a copy-on-write fault that every child
    pays again.  The zygote is single-threaded and calls
    fork() holding the GIL (``PyDLL``) outside any import, so that machinery has
    nothing to repair; the one effect we need, reseeding ``random``, is done by
    :meth:`Zygote._enter_jail`.  Only on the CPython versions this was checked on.
    """
    global _raw_fork
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return False
    if not getattr(sys, "_is_gil_enabled", lambda: True)():  # free-threaded build: no
        return False
    try:
        _raw_fork = ctypes.PyDLL(None, use_errno=True).fork
        _raw_fork.restype = ctypes.c_int
        _raw_fork.argtypes = []
    except (OSError, AttributeError):
        return False
    return True


def _fork() -> int:
    if _raw_fork is None:
        return os.fork()
    pid = _raw_fork()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    return pid


def _drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable capability sets (capset(2))."""
    global _CAP_ARGS
    if _CAP_ARGS is None:  # built once, in the zygote (see _warm_child_setup)
        _CAP_ARGS = ((ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0), (ctypes.c_uint32 * 6)())
    _check(_c().capset(*_CAP_ARGS), "capset")


# ------------------------------------------------------------------ child side


class CappedText(io.TextIOBase):
    """A text sink that keeps the first and the last ``limit // 2`` characters.

    When more than ``limit`` characters are written, the middle is replaced by a
    one-line note.  Keeping the tail means the last line (what the 2023-10 output
    style shows) and the last 200 characters (2023-11) are those of the full output.

    Example:
        >>> sink = CappedText(10)
        >>> _ = sink.write("0123456789abcdef")
        >>> sink.getvalue()
        '01234\\n[... 6 characters cut: output over the 10-character limit ...]\\nbcdef'
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = _max(int(limit), 2)
        self._half = self._limit // 2
        self._parts: list[str] = []
        self._size = 0
        self._head: str | None = None
        self._dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        if not _isinstance(text, _str):
            raise TypeError(f"string argument expected, got {type(text).__name__!r}")
        self._parts.append(text)
        size = _len(text)
        self._size += size
        if self._size > 2 * self._limit:
            self._compact()
        return size

    def _compact(self) -> None:
        text = "".join(self._parts)
        if self._head is None:
            self._head, text = text[: self._half], text[self._half :]
        keep = text[_len(text) - self._half :]
        self._dropped += _len(text) - _len(keep)
        self._parts, self._size = [keep], _len(keep)

    def getvalue(self) -> str:
        """The captured text, cut in the middle when over the limit."""
        if self._head is None and self._size <= self._limit:
            return "".join(self._parts)
        self._compact()
        note = (
            f"\n[... {self._dropped} characters cut: output over the "
            f"{self._limit}-character limit ...]\n"
        )
        return f"{self._head}{note}{''.join(self._parts)}"


def cut_middle(text: str, limit: int) -> str:
    """Cut an over-long single value (an error line) the same way as the output."""
    if _len(text) <= limit:
        return text
    sink = CappedText(limit)
    sink.write(text)
    return sink.getvalue()


def _error_line() -> str:
    """The last line of the traceback, as the released ToRA code computed it."""
    try:
        return traceback.format_exc().split("\n")[-2]
    except BaseException:  # a snippet may have broken the traceback module
        kind, value = sys.exc_info()[:2]
        name = getattr(kind, "__name__", "Exception")
        try:
            return f"{name}: {value}" if str(value) else name
        except BaseException:
            return name


def execute(code: str, namespace: dict[str, Any], max_output: int) -> dict[str, Any]:
    """Run ``code`` with ``exec`` in ``namespace``, capturing stdout and stderr.

    This is the released ToRA semantics: ``exec(code, globals)`` where ``globals``
    starts as an empty dict (Python adds ``__builtins__``; ``__name__`` is *not*
    set, so it reads as ``"builtins"``), stdout captured, and on any exception
    (``SystemExit`` included) the error is the last line of ``traceback.format_exc()``.

    Example:
        >>> execute("print(1 + 1)", {}, 100)
        {'stdout': '2\\n', 'stderr': '', 'error': None}
        >>> execute("1 / 0", {}, 100)["error"]
        'ZeroDivisionError: division by zero'
    """
    out, err = CappedText(max_output), CappedText(max_output)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    error = None
    try:
        exec(code, namespace)
    except BaseException:
        error = cut_middle(_error_line(), max_output)
    finally:
        sys.stdout, sys.stderr = saved
    # What follows uses no builtins by name: the snippet may have rebound them.
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "error": error}


# ------------------------------------------------------------------ zygote side

SPARE_AFTER_IDLE = 0.005
"""Seconds without activity after which the zygote forks a spare child."""

EXIT_CPU_LIMIT = 152
"""Exit status of a child whose CPU-time limit fired (SIGXCPU handler)."""
EXIT_NO_REPORT = 70
"""Exit status of a child that could not write its result."""


class _Run:
    """One snippet to run (or running), as the zygote tracks it."""

    __slots__ = (
        "buffer",
        "code",
        "id",
        "killed_at_deadline",
        "limits",
        "pid",
        "responded",
        "result_fd",
        "rusage",
        "session",
        "started",
        "status",
        "workdir",
    )

    def __init__(self, message: dict[str, Any]) -> None:
        self.id: int = message["id"]
        self.code: str = message["code"]
        self.session: str | None = message.get("session")
        self.limits: dict[str, Any] = message["limits"]
        self.pid = 0
        self.result_fd = -1
        self.buffer = bytearray()
        self.responded = False
        self.started = 0.0
        self.status: int | None = None
        self.rusage: Any = None
        self.killed_at_deadline = False
        self.workdir = ""

    @property
    def deadline(self) -> float | None:
        timeout = self.limits.get("timeout")
        return None if timeout is None or not self.started else self.started + timeout


class _Spare:
    """A child forked ahead of time, jailed and pre-faulted, waiting for a snippet."""

    __slots__ = ("code_fd", "limits", "pid", "result_fd", "workdir")

    def __init__(self, pid: int, code_fd: int, result_fd: int, workdir: str, limits: Any) -> None:
        self.pid, self.code_fd, self.result_fd = pid, code_fd, result_fd
        self.workdir, self.limits = workdir, limits


class _Session:
    """A long-lived child that keeps one namespace across the rounds of a trajectory."""

    __slots__ = (
        "alive",
        "buffer",
        "current",
        "end_ids",
        "id",
        "pid",
        "queue",
        "req_fd",
        "res_fd",
        "workdir",
    )

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.pid = 0
        self.req_fd = -1
        self.res_fd = -1
        self.buffer = bytearray()
        self.queue: deque[_Run] = deque()
        self.current: _Run | None = None
        self.alive = False
        self.end_ids: list[int] = []
        self.workdir = ""


class Zygote:
    """The event loop that receives snippets, forks children and reports results."""

    def __init__(
        self,
        config: dict[str, Any],
        isolation: dict[str, Any],
        notes: list[str],
        lifeline: int | None,
    ) -> None:
        self.config = config
        self.isolation = isolation
        self.notes = notes
        self.lifeline = lifeline
        self.req_fd: int = config["request_fd"]
        self.resp_fd: int = config["response_fd"]
        self.base: str = config["workdir_base"]
        self.max_workers: int = max(1, int(config["max_workers"]))
        self.pid_ns: bool = isolation["pid_isolated"]
        self.drop: bool = False
        self.uid: int = config["sandbox_uid"]
        self.gid: int = config["sandbox_gid"]
        self.home_ns_fd = -1
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.max_fd = max(os.sysconf("SC_OPEN_MAX"), 1024)
        self.selector = selectors.DefaultSelector()
        self.requests = FrameBuffer(MAX_REQUEST_BYTES)
        self.queue: deque[_Run] = deque()
        self.children: dict[int, _Run | _Session | _Spare] = {}
        self.sessions: dict[str, _Session] = {}
        self.active = 0
        self.counter = 0
        self.stopping = False
        self.preloaded: list[str] = []
        self.pidfds: dict[int, int] | None = None
        self.pid_max_per_ns = False
        self.spare: _Spare | None = None
        self.last_limits: dict[str, Any] | None = None
        self.busy_until = 0.0

    # ---------------------------------------------------------------- set up

    def prepare(self) -> None:
        """Drop-privilege probe, preloads, warm-up, freeze: everything before serving."""
        if self.pid_ns:
            self.home_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            # Linux 6.14 made kernel.pid_max per PID namespace: a cap on the processes
            # of one snippet (on older kernels the sysctl is global: never touch it).
            self.pid_max_per_ns = _kernel_at_least(6, 14)
        else:  # orphans of snippets come back to us, so we can kill them
            _quietly(_prctl, PR_SET_CHILD_SUBREAPER, 1)
        if self.config["drop_privileges"] and os.geteuid() == 0:
            self.drop = self._probe_sandbox_user()
        sys.dont_write_bytecode = True
        preloaded = []
        for name in self.config["preload"]:
            try:
                __import__(name)
                preloaded.append(name)
            except Exception as exc:  # a missing optional module is fine
                self.notes.append(f"preload {name!r} failed: {type(exc).__name__}: {exc}")
        self.preloaded = preloaded
        warmup = self.config.get("warmup")
        if warmup:
            try:
                execute(warmup, {}, 1 << 16)
            except BaseException as exc:
                self.notes.append(f"warm-up failed: {exc!r}")
        _warm_child_setup()
        # Children inherit it: at the soft CPU limit, exit with a status that says so
        # (a PID-1 child would otherwise ignore SIGXCPU).  The zygote has no limit.
        signal.signal(signal.SIGXCPU, _exit_on_cpu_limit)
        if self.config.get("raw_fork", True) and threading_is_idle():
            use_raw_fork()
        gc.collect()
        gc.freeze()  # children's collections then skip (and do not copy) these objects
        if self.config.get("huge_pages"):
            _collapse_heap_into_huge_pages()
        _quietly(_prctl, PR_SET_DUMPABLE, 0)  # nobody else (same uid) may read our memory

    def _probe_sandbox_user(self) -> bool:
        """Can the unprivileged sandbox user import from sys.path and use a workdir?"""
        workdir = os.path.join(self.base, "probe")
        try:
            os.mkdir(workdir, 0o700)
            os.chown(workdir, self.uid, self.gid)
        except OSError as exc:
            self.notes.append(f"not dropping privileges: cannot prepare a workdir ({exc})")
            return False
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setgroups([])
                os.setresgid(self.gid, self.gid, self.gid)
                os.setresuid(self.uid, self.uid, self.uid)
                os.chdir(workdir)
                for entry in sys.path:
                    if entry and os.path.isdir(entry):
                        os.listdir(entry)
                code = 0 if os.access(sys.executable, os.X_OK) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        os.rmdir(workdir)
        if status != 0:
            self.notes.append(
                f"not dropping privileges: uid {self.uid} cannot read this Python's "
                "sys.path or the temp dir (the sandbox runs as the caller's user)"
            )
            return False
        return True

    def _process_cap(self) -> str | None:
        """How the number of a snippet's processes is bounded, if it is."""
        if self.pid_max_per_ns:
            return "pid_max"  # per PID namespace
        if self.drop:
            return "rlimit_nproc"  # per sandbox user
        return None

    def ready_message(self) -> dict[str, Any]:
        return {
            "op": "ready",
            "network_isolated": self.isolation["network_isolated"],
            "pid_isolated": self.pid_ns,
            "proc_private": self.isolation.get("proc_private", False),
            "filesystem_readonly": self.isolation.get("filesystem_readonly", False),
            "privileges_dropped": self.drop,
            "process_cap": self._process_cap(),
            "uid": self.uid if self.drop else os.getuid(),
            "preloaded": self.preloaded,
            "notes": self.notes,
        }

    # ---------------------------------------------------------------- loop

    def serve(self) -> None:
        """Answer requests until the caller closes the pipe or asks to exit."""
        self.prepare()
        try:  # a pidfd per child tells us when it exits, with no signal handler to undo
            os.close(os.pidfd_open(os.getpid()))
            self.pidfds: dict[int, int] | None = {}
        except (AttributeError, OSError):
            self.pidfds = None
            wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            signal.signal(signal.SIGCHLD, lambda *_: None)
            signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
            self.selector.register(wake_r, selectors.EVENT_READ, _drain)
        os.set_blocking(self.req_fd, False)
        self.selector.register(self.req_fd, selectors.EVENT_READ, self._on_requests)
        if self.lifeline is not None:
            self.selector.register(self.lifeline, selectors.EVENT_READ, self._on_lifeline)
        self.send(self.ready_message())
        while not self.stopping:
            for key, _ in self.selector.select(self._select_timeout()):
                key.data(key.fd)
            self._reap()
            self._enforce_deadlines()
            self._start_queued()
            self._keep_a_spare()
        self._shutdown()

    def _track(self, pid: int) -> None:
        if self.pidfds is not None:
            fd = self.pidfds[pid] = os.pidfd_open(pid)
            self.selector.register(fd, selectors.EVENT_READ, _ignore)  # wakes the loop; _reap reaps

    def _untrack(self, pid: int) -> None:
        fd = self.pidfds.pop(pid, None) if self.pidfds is not None else None
        if fd is not None:
            self.selector.unregister(fd)
            os.close(fd)

    def send(self, message: dict[str, Any]) -> None:
        self.busy_until = time.monotonic()
        try:
            write_all(self.resp_fd, encode_frame(message))
        except OSError:  # the caller went away
            self.stopping = True

    def _select_timeout(self) -> float | None:
        deadlines = [r.deadline for r in self._running_runs() if r.deadline is not None]
        if self._spare_wanted():
            deadlines.append(self.busy_until + SPARE_AFTER_IDLE)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _running_runs(self) -> list[_Run]:
        runs = [c for c in self.children.values() if isinstance(c, _Run) and not c.responded]
        runs += [s.current for s in self.sessions.values() if s.current is not None]
        return runs

    def _on_lifeline(self, fd: int) -> None:
        if not os.read(fd, 64):
            self.stopping = True

    def _on_requests(self, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self.stopping = True
            return
        self.busy_until = time.monotonic()
        for message in self.requests.feed(data):
            op = message.get("op")
            if op == "run":
                run = _Run(message)
                if run.session is None:
                    self.queue.append(run)
                else:
                    session = self.sessions.get(run.session)
                    if session is None:
                        session = self.sessions[run.session] = _Session(run.session)
                    session.queue.append(run)
            elif op == "end":
                self._end_session(message["session"], message["id"])
            elif op == "exit":
                self.stopping = True

    def _start_queued(self) -> None:
        while self.active < self.max_workers:
            # Stateful runs first when their session is idle, then stateless ones.
            session = next(
                (
                    s
                    for s in self.sessions.values()
                    if s.queue and s.current is None and not s.end_ids
                ),
                None,
            )
            if session is not None:
                self._start_session_run(session, session.queue.popleft())
            elif self.queue:
                self._start_run(self.queue.popleft())
            else:
                return

    # ---------------------------------------------------------------- forking

    def _fork(self) -> int:
        """fork(); with PID namespaces the child is PID 1 of a namespace of its own."""
        if not self.pid_ns:
            return _fork()
        _unshare(CLONE_NEWPID)
        try:
            pid = _fork()
        except BaseException:
            _setns(self.home_ns_fd, CLONE_NEWPID)
            raise
        if pid:
            _setns(self.home_ns_fd, CLONE_NEWPID)
        return pid

    def _new_workdir(self, kind: str) -> str:
        self.counter += 1
        return os.path.join(self.base, f"{kind}{self.counter}-{os.urandom(6).hex()}")

    def _spare_wanted(self) -> bool:
        return (
            self.spare is None
            and bool(self.config.get("prefork"))
            and self.last_limits is not None
            and not self.queue
            and not self.active  # only when idle: forking now would delay results
            and not self.stopping
        )

    def _keep_a_spare(self) -> None:
        """After a short idle spell, fork the next stateless child ahead of time.

        A caller that runs snippets back to back gains nothing from a spare (its next
        request arrives before the spare is ready); the ToRA loop, which generates
        text between runs, finds one waiting.  See :meth:`_spare_main`.
        """
        if not self._spare_wanted() or time.monotonic() < self.busy_until + SPARE_AFTER_IDLE:
            return
        workdir = self._new_workdir("run")
        code_r, code_w = os.pipe2(os.O_CLOEXEC)
        result_r, result_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = self._fork()
        except OSError:
            for fd in (code_r, code_w, result_r, result_w):
                os.close(fd)
            return
        if pid == 0:
            self._spare_main(workdir, self.last_limits, code_r, result_w)  # never returns
        os.close(code_r)
        os.close(result_w)
        os.set_blocking(result_r, False)
        self.spare = _Spare(pid, code_w, result_r, workdir, self.last_limits)
        self.children[pid] = self.spare
        self._track(pid)

    def _spare_main(
        self, workdir: str, limits: dict[str, Any], code_fd: int, result_fd: int
    ) -> None:
        """In a spare child: jail, pre-fault, then wait for the snippet (or end of file)."""
        code = EXIT_NO_REPORT
        try:
            try:
                self._enter_jail(workdir, limits, keep=(code_fd, result_fd), stateful=False)
                _prefault(self.preloaded, code_fd)
                source = read_code(code_fd)
                if source is None:  # the zygote did not need us after all
                    code = 0
                    return
                result = execute(source, {}, int(limits["output"]))
            except BaseException as exc:
                result = {
                    "stdout": "",
                    "stderr": "",
                    "error": f"SandboxError: cannot set up the sandbox: {exc}",
                }
            write_all(result_fd, encode_result(result))
            code = 0
        finally:
            os._exit(code)

    def _adopt_spare(self, run: _Run) -> bool:
        """Hand ``run`` to the waiting spare child; False when there is none to use."""
        spare, self.spare = self.spare, None
        if spare is None:
            return False
        if spare.limits != run.limits:  # forked for other limits: discard it
            os.close(spare.code_fd)
            os.close(spare.result_fd)
            self._kill(spare.pid)
            return False
        run.workdir, run.pid, run.result_fd = spare.workdir, spare.pid, spare.result_fd
        run.started = time.monotonic()
        _quietly(write_all, spare.code_fd, encode_code(run.code))  # if it died, its reap says so
        os.close(spare.code_fd)
        self.children[run.pid] = run
        self.active += 1
        self.selector.register(run.result_fd, selectors.EVENT_READ, self._on_result_data)
        return True

    def _start_run(self, run: _Run) -> None:
        self.last_limits = run.limits
        if self._adopt_spare(run):
            return
        run.workdir = self._new_workdir("run")
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        run.started = time.monotonic()
        try:
            pid = self._fork()
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            self._respond(run, error=f"SandboxError: cannot start the snippet's process: {exc}")
            return
        if pid == 0:
            self._child_main(run, write_fd)  # never returns
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        run.pid, run.result_fd = pid, read_fd
        self.children[pid] = run
        self._track(pid)
        self.active += 1
        self.selector.register(read_fd, selectors.EVENT_READ, self._on_result_data)

    def _on_result_data(self, fd: int) -> None:
        run = next(
            (r for r in self.children.values() if isinstance(r, _Run) and r.result_fd == fd), None
        )
        if run is None:
            return
        if self._read_result(run):  # end of file: stop watching, the reap finishes it
            self.selector.unregister(fd)
        if not run.responded and result_size(run.buffer) == len(run.buffer):
            self._respond_early(run)

    def _respond_early(self, run: _Run) -> None:
        """Answer as soon as the result is complete instead of after the exit.

        The child's exit (unmapping a copy of the zygote) takes about a millisecond.
        It is safe to answer first when nothing the snippet started can still run:
        SIGKILL the child (no new process or thread can start after that), then
        check that it has no children left (in its own PID namespace, every other
        process would be a descendant).  Otherwise the reap answers, as without
        namespaces.
        """
        if not (self.pid_ns and self.isolation.get("proc_private")):
            return
        result = decode_result(run.buffer)
        if result is None:
            return
        _quietly(os.kill, run.pid, signal.SIGKILL)
        try:
            fd = os.open(f"/proc/{run.pid}/task/{run.pid}/children", os.O_RDONLY)
            try:
                if os.read(fd, 64).strip():
                    return
            finally:
                os.close(fd)
        except OSError:
            return
        run.responded = True
        self.active -= 1
        _remove_tree(run.workdir)
        run.workdir = ""
        self._respond(run, result=result, duration=time.monotonic() - run.started)

    def _read_result(self, run: _Run) -> bool:
        """Read what is available; True at end of file."""
        limit = 4 * 3 * int(run.limits["output"]) + (1 << 20)
        while True:
            try:
                data = os.read(run.result_fd, 1 << 20)
            except BlockingIOError:
                return False
            if not data:
                return True
            run.buffer += data
            if len(run.buffer) > limit:  # not our child's frame: someone is flooding it
                self._kill(run.pid)
                return True

    def _child_main(self, run: _Run, result_fd: int) -> None:
        """In the forked child: set up the jail, run the snippet, report, exit."""
        code = EXIT_NO_REPORT
        try:
            try:
                self._enter_jail(run.workdir, run.limits, keep=(result_fd,), stateful=False)
                result = execute(run.code, {}, int(run.limits["output"]))
            except BaseException as exc:
                result = {
                    "stdout": "",
                    "stderr": "",
                    "error": f"SandboxError: cannot set up the sandbox: {exc}",
                }
            write_all(result_fd, encode_result(result))
            code = 0
        finally:
            os._exit(code)

    def _enter_jail(
        self, workdir: str, limits: dict[str, Any], keep: tuple[int, ...], stateful: bool
    ) -> None:
        """Everything a child does before running untrusted code (order matters)."""
        # Every page this touches is a copy-on-write fault (a few microseconds each):
        # it sticks to a few C-level calls prepared by _warm_child_setup.
        if _raw_fork is not None and _RESEED_RANDOM is not None:  # os.fork() would have
            _RESEED_RANDOM[0](_RESEED_RANDOM[1])
            _RESEED_RANDOM[1].gauss_next = None
        if self.pidfds is None:  # undo the zygote's SIGCHLD wake-up
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if not self.pid_ns:  # no namespace to take us down with the zygote: die with it
            _quietly(_prctl, PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        devnull = self.devnull
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        low = 3
        for fd in keep if _len(keep) == 1 else sorted(keep):
            if fd > low:
                os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, self.max_fd)
        os.mkdir(workdir, 0o700)
        if self.drop:
            os.chown(workdir, self.uid, self.gid)
        os.chdir(workdir)
        _set_limits(limits, nproc=self.drop, stateful=stateful)
        if self.pid_max_per_ns and limits.get("nproc"):
            try:  # we are PID 1 of our own namespace, still with CAP_SYS_ADMIN
                fd = os.open("/proc/sys/kernel/pid_max", os.O_WRONLY)
                os.write(fd, b"%d" % _max(PID_MAX_MIN, int(limits["nproc"]) + 1))
                os.close(fd)
            except OSError:
                pass
        if self.drop:
            os.setgroups([])
            os.setresgid(self.gid, self.gid, self.gid)
            os.setresuid(self.uid, self.uid, self.uid)
        _quietly(_drop_capabilities)
        _quietly(_prctl, PR_SET_NO_NEW_PRIVS, 1)  # no setuid binaries
        _quietly(_prctl, PR_SET_DUMPABLE, 1)  # our own /proc/self stays readable
        path = workdir.encode()
        data = getattr(os.environ, "_data", None)
        if _isinstance(data, dict) and os.name == "posix":  # os.environ[...] = ..., cheaper
            os.putenv(b"HOME", path)
            os.putenv(b"TMPDIR", path)
            data[b"HOME"] = data[b"TMPDIR"] = path
        else:
            os.environ["HOME"] = os.environ["TMPDIR"] = workdir
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            tempfile.tempdir = None
        numpy = sys.modules.get("numpy")
        if numpy is not None:  # forked children would otherwise share one random stream
            numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        sys.argv = [""]

    # ---------------------------------------------------------------- sessions

    def _start_session_run(self, session: _Session, run: _Run) -> None:
        if not session.alive and not self._spawn_session(session, run):
            return
        session.current = run
        run.started = time.monotonic()
        self.active += 1
        try:
            write_all(session.req_fd, encode_frame({"code": run.code, "limits": run.limits}))
        except OSError:  # it died between runs: the reap will report
            self._kill(session.pid)

    def _spawn_session(self, session: _Session, run: _Run) -> bool:
        session.workdir = self._new_workdir("session")
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = self._fork()
        except OSError as exc:
            for fd in (req_r, req_w, res_r, res_w):
                os.close(fd)
            self._respond(run, error=f"SandboxError: cannot start the session's process: {exc}")
            return False
        if pid == 0:
            self._session_main(session.workdir, run.limits, req_r, res_w)  # never returns
        os.close(req_r)
        os.close(res_w)
        os.set_blocking(res_r, False)
        session.pid, session.req_fd, session.res_fd, session.alive = pid, req_w, res_r, True
        session.buffer = bytearray()
        self.children[pid] = session
        self._track(pid)
        self.selector.register(res_r, selectors.EVENT_READ, self._on_session_data)
        return True

    def _session_main(self, workdir: str, limits: dict[str, Any], req_fd: int, res_fd: int) -> None:
        """In a session child: one namespace, many rounds, until the pipe closes."""
        code = EXIT_NO_REPORT
        try:
            self._enter_jail(workdir, limits, keep=(req_fd, res_fd), stateful=True)
            if not self.pid_ns:  # orphans of this session's snippets come back to us
                _quietly(_prctl, PR_SET_CHILD_SUBREAPER, 1)
            namespace: dict[str, Any] = {}
            builtin_names = builtins.__dict__
            pristine = builtin_names.copy()
            while True:
                message = read_frame_blocking(req_fd, MAX_REQUEST_BYTES)
                if message is None:
                    code = 0
                    break
                _extend_cpu_limit(message["limits"].get("cpu"))
                result = encode_result(
                    execute(message["code"], namespace, int(message["limits"]["output"]))
                )
                if builtin_names != pristine:  # this loop needs working builtins next round
                    builtin_names.clear()
                    builtin_names.update(pristine)
                _kill_leftover_processes()
                write_all(res_fd, _HEADER.pack(_len(result)) + result)
        finally:
            os._exit(code)

    def _on_session_data(self, fd: int) -> None:
        session = next((s for s in self.sessions.values() if s.res_fd == fd), None)
        if session is None:
            return
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(fd)
            return
        session.buffer += data
        results = []
        while len(session.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(session.buffer)
            if len(session.buffer) < _HEADER.size + size:
                break
            results.append(decode_result(session.buffer[_HEADER.size : _HEADER.size + size]))
            del session.buffer[: _HEADER.size + size]
        if len(session.buffer) > 4 * 3 * int(
            session.current.limits["output"] if session.current else 1 << 16
        ) + (1 << 20):
            self._kill(session.pid)  # not a result: someone is flooding the pipe
            return
        for result in results:
            if result is None:
                self._kill(session.pid)
                return
            run = session.current
            if run is None:
                continue
            if not self.pid_ns:
                self._kill_orphans()
            session.current = None
            self.active -= 1
            self._respond(run, result=result, duration=time.monotonic() - run.started)

    def _end_session(self, session_id: str, request_id: int) -> None:
        session = self.sessions.get(session_id)
        if session is None or not session.alive:
            if session is not None and not session.queue:
                del self.sessions[session_id]
            self.send({"op": "ended", "id": request_id})
            return
        session.end_ids.append(request_id)
        self._kill(session.pid)

    # ---------------------------------------------------------------- endings

    def _kill(self, pid: int) -> None:
        _quietly(os.kill, pid, signal.SIGKILL)
        if not self.pid_ns:  # without PID namespaces: its process group too
            _quietly(os.killpg, pid, signal.SIGKILL)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for run in self._running_runs():
            deadline = run.deadline
            if deadline is not None and now >= deadline and not run.killed_at_deadline:
                run.killed_at_deadline = True
                pid = run.pid or (
                    self.sessions[run.session].pid if run.session in self.sessions else 0
                )
                if pid:
                    self._kill(pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            self._untrack(pid)
            if isinstance(child, _Run):
                child.status, child.rusage = status, rusage
                self._finish_run(child)
            elif isinstance(child, _Session):
                self._finish_session(child, status, rusage)
            elif isinstance(child, _Spare):  # died before it was needed
                if self.spare is child:
                    self.spare = None
                    os.close(child.code_fd)
                    os.close(child.result_fd)
                _remove_tree(child.workdir)

    def _finish_run(self, run: _Run) -> None:
        if run.responded:  # answered by _respond_early: only the clean-up is left
            _quietly(self.selector.unregister, run.result_fd)
            os.close(run.result_fd)
            return
        self._read_result(run)
        _quietly(self.selector.unregister, run.result_fd)
        os.close(run.result_fd)
        if not self.pid_ns:
            # What is left of its process group (the id stays reserved while it has members).
            _quietly(os.killpg, run.pid, signal.SIGKILL)
            self._kill_orphans()  # daemons that left the group came back to us (subreaper)
        _remove_tree(run.workdir)
        self.active -= 1
        duration = time.monotonic() - run.started
        result = decode_result(run.buffer)
        if result is not None:  # complete: how the process ended afterwards does not matter
            self._respond(run, result=result, duration=duration)
        else:
            self._respond_death(run, run.status, run.rusage, duration)

    def _finish_session(self, session: _Session, status: int, rusage: Any) -> None:
        session.alive = False
        _quietly(self.selector.unregister, session.res_fd)
        for fd in (session.req_fd, session.res_fd):
            os.close(fd)
        _remove_tree(session.workdir)
        run, session.current = session.current, None
        if run is not None:
            self.active -= 1
            if session.end_ids:
                self._respond(
                    run, error="SandboxError: the session was ended while this snippet ran"
                )
            else:
                self._respond_death(run, status, rusage, time.monotonic() - run.started)
        for request_id in session.end_ids:
            self.send({"op": "ended", "id": request_id})
        session.end_ids = []
        if not session.queue:  # queued rounds, if any, start a fresh namespace
            self.sessions.pop(session.id, None)

    def _respond_death(self, run: _Run, status: int | None, rusage: Any, duration: float) -> None:
        cpu = run.limits.get("cpu")
        used = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
        if run.killed_at_deadline:
            note = f"[sandbox] killed after the {run.limits['timeout']:g} s time limit"
            self._respond(run, timed_out=True, stderr=note, duration=duration)
        elif status is not None and (
            (os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_CPU_LIMIT)
            or (cpu is not None and os.WIFSIGNALED(status) and used >= cpu)  # hard limit
        ):
            note = f"[sandbox] killed after the {cpu:g} s CPU-time limit"
            self._respond(run, timed_out=True, stderr=note, duration=duration)
        elif status is not None and os.WIFSIGNALED(status):
            try:
                name = signal.Signals(os.WTERMSIG(status)).name
            except ValueError:
                name = f"signal {os.WTERMSIG(status)}"
            self._respond(
                run,
                error=f"SandboxError: the snippet's process was killed by {name}",
                duration=duration,
            )
        else:
            code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else status
            why = (
                "could not report its result (did the snippet close its file descriptors?)"
                if code == EXIT_NO_REPORT
                else f"exited with status {code} before reporting"
            )
            self._respond(
                run, error=f"SandboxError: the snippet's process {why}", duration=duration
            )

    def _respond(
        self,
        run: _Run,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        timed_out: bool = False,
        stderr: str = "",
        duration: float = 0.0,
    ) -> None:
        message = {"op": "result", "id": run.id, "stdout": "", "stderr": stderr, "error": error}
        if result is not None:
            message.update(
                stdout=result.get("stdout", ""),
                stderr=result.get("stderr", ""),
                error=result.get("error"),
            )
        message.update(timed_out=timed_out, duration=duration)
        self.send(message)

    def _kill_orphans(self) -> None:
        """Without PID namespaces: kill processes that escaped a finished snippet.

        The zygote is a child subreaper, so a daemon that left its snippet's process
        group (setsid, double fork) becomes our child when its parent dies.
        """
        _kill_children(exclude=self.children)

    def _shutdown(self) -> None:
        for pid in list(self.children):
            self._kill(pid)
        deadline = time.monotonic() + 5
        while self.children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            self._untrack(pid)
            if child is not None:
                _remove_tree(child.workdir)


def _warm_child_setup() -> None:
    """Do once in the zygote what every child does, so the lazy parts are paid once.

    (Seeding numpy's global generator the first time costs ~20 ms; ctypes looks up
    a C function on first use.)
    """
    global _CAP_ARGS, _RESEED_RANDOM
    try:
        libc = _c()
        for name in ("capset", "prctl", "unshare", "setns", "mount", "madvise"):
            getattr(libc, name)
        _CAP_ARGS = ((ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0), (ctypes.c_uint32 * 6)())
    except (OSError, AttributeError):
        pass
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    random = sys.modules.get("random")
    instance = getattr(random, "_inst", None)
    c_seed = getattr(sys.modules.get("_random"), "Random", None)
    if instance is not None and c_seed is not None and _isinstance(instance, c_seed):
        _RESEED_RANDOM = (c_seed.seed, instance)  # seeds from os.urandom, like random.seed()
    for kind in (
        resource.RLIMIT_CORE,
        resource.RLIMIT_AS,
        resource.RLIMIT_FSIZE,
        resource.RLIMIT_NPROC,
        resource.RLIMIT_CPU,
    ):
        _HARD_LIMITS[kind] = resource.getrlimit(kind)[1]


PID_MAX_MIN = 301
"""The kernel refuses a smaller pid_max, so that cap is at least 300 processes."""


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        release = os.uname().release.split("-")[0].split(".")
        return (int(release[0]), int(release[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def threading_is_idle() -> bool:
    """True when this process runs a single thread (a precondition of a raw fork)."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _prefault(modules: list[str], stop_fd: int) -> None:
    """Take, ahead of time, the copy-on-write faults that using these modules costs.

    Walking a module's namespace touches (increments, then decrements) the reference
    count of every top-level object: ``from sympy import *`` alone writes to some 650
    pages of the zygote's heap.  Only reference counts change: nothing runs.  Stops
    as soon as ``stop_fd`` is readable (the snippet has arrived).
    """
    poller = select.poll()
    poller.register(stop_fd, select.POLLIN)
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for count, _value in enumerate(vars(module).values()):
            if count % 64 == 0 and poller.poll(0):
                return


def _ignore(fd: int) -> None:
    pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _remove_tree(path: str) -> None:
    if not path:
        return
    try:
        os.rmdir(path)  # the common case: the snippet wrote no files
    except FileNotFoundError:
        return
    except OSError:
        import shutil

        def retry(function: Any, name: str, _exc: Any) -> None:
            try:  # a snippet may have chmod-ed its own directories
                os.chmod(os.path.dirname(name) or name, 0o700)
                os.chmod(name, 0o700)
                function(name)
            except OSError:
                pass

        shutil.rmtree(path, onerror=retry)


def _set_limits(limits: dict[str, Any], *, nproc: bool, stateful: bool) -> None:
    infinity = resource.RLIM_INFINITY
    wanted = [(resource.RLIMIT_CORE, 0, 0)]
    if limits.get("memory"):
        wanted.append((resource.RLIMIT_AS, int(limits["memory"]), int(limits["memory"])))
    if limits.get("fsize"):
        wanted.append((resource.RLIMIT_FSIZE, int(limits["fsize"]), int(limits["fsize"])))
    if nproc and limits.get("nproc"):
        wanted.append((resource.RLIMIT_NPROC, int(limits["nproc"]), int(limits["nproc"])))
    cpu = limits.get("cpu")
    if cpu:
        # At the soft limit the kernel sends SIGXCPU (handled: exit with
        # EXIT_CPU_LIMIT); one second later, at the hard one, SIGKILL (for a snippet
        # stuck in C code or that replaced the handler).  Stateful: the soft limit is
        # raised before every round (_extend_cpu_limit).
        wanted.append((resource.RLIMIT_CPU, int(cpu), infinity if stateful else int(cpu) + 1))
    for kind, soft, hard in wanted:
        inherited = _HARD_LIMITS.get(kind, infinity)
        if inherited != infinity:  # we cannot raise a hard limit: stay under it
            hard = inherited if hard == infinity else _min(hard, inherited)
            soft = _min(soft, hard)
        resource.setrlimit(kind, (soft, hard))


def _extend_cpu_limit(cpu: int | None) -> None:
    """Stateful rounds: allow ``cpu`` more seconds than the session used so far."""
    if not cpu:
        return
    times = os.times()
    used = int(times.user + times.system) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = used + int(cpu)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _exit_on_cpu_limit(*_: Any) -> None:
    os._exit(EXIT_CPU_LIMIT)


def _kill_leftover_processes() -> None:
    """After a stateful round: kill what the snippet started, keep the session."""
    if os.getpid() != 1:  # no namespace of our own: we are a subreaper instead
        _kill_children(exclude={})
        return
    _quietly(os.kill, -1, signal.SIGKILL)  # PID 1 of our own namespace: everyone else in it
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break


def _kill_children(exclude: Any) -> None:
    """SIGKILL (with their process groups) our children not in ``exclude``; reap them.

    Repeats, because each death hands that process's own children to us.
    """
    for _ in range(1000):
        try:
            with open(f"/proc/self/task/{os.getpid()}/children") as handle:
                pids = [int(p) for p in handle.read().split()]
        except (OSError, ValueError):
            return
        strays = [p for p in pids if p not in exclude]
        if not strays:
            return
        for pid in strays:
            _quietly(os.killpg, pid, signal.SIGKILL)
            _quietly(os.kill, pid, signal.SIGKILL)
        for pid in strays:
            _quietly(os.waitpid, pid, 0)


def _collapse_heap_into_huge_pages() -> None:
    """Best effort: back the zygote's heap with 2 MiB pages (MADV_COLLAPSE, Linux 6.1+).

    fork() copies one page-table entry per 4 KiB page it shares; with huge pages it
    copies one per 2 MiB, which makes a fork and an exit of the warm zygote cheaper.
    """
    huge = 2 << 20
    try:
        libc = _c()
        with open("/proc/self/maps") as handle:
            lines = handle.read().splitlines()
    except (OSError, AttributeError):
        return
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start, end = (start + huge - 1) & ~(huge - 1), end & ~(huge - 1)
        if end > start:
            libc.madvise(start, end - start, MADV_HUGEPAGE)
            libc.madvise(start, end - start, MADV_COLLAPSE)


# ---------------------------------------------------------------- bootstrap


def _isolate(config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Enter new namespaces (in the bootstrap process, before any fork)."""
    isolation = {
        "network_isolated": False,
        "pid_isolated": False,
        "mount_ns": False,
        "user_ns": False,
    }
    if not config["namespaces"]:
        notes.append("namespaces disabled by configuration")
        return isolation
    if not sys.platform.startswith("linux"):
        notes.append(f"no namespaces on {sys.platform}")
        return isolation
    uid, gid = os.getuid(), os.getgid()
    base = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS
    attempts = [base, base | CLONE_NEWUSER] if os.geteuid() == 0 else [base | CLONE_NEWUSER]
    attempts += [CLONE_NEWNET, CLONE_NEWNET | CLONE_NEWUSER]
    for flags in attempts:
        try:
            _unshare(flags)
        except (OSError, AttributeError) as exc:
            notes.append(f"unshare({_flag_names(flags)}) refused: {exc}")
            continue
        if flags & CLONE_NEWUSER:
            try:  # map ourselves to ourselves; no other ids exist in the namespace
                for path, text in (
                    ("setgroups", "deny"),
                    ("uid_map", f"{uid} {uid} 1"),
                    ("gid_map", f"{gid} {gid} 1"),
                ):
                    with open(f"/proc/self/{path}", "w") as handle:
                        handle.write(text)
            except OSError as exc:
                notes.append(f"user namespace id map failed: {exc}")
        isolation.update(
            network_isolated=bool(flags & CLONE_NEWNET),
            pid_isolated=bool(flags & CLONE_NEWPID),
            mount_ns=bool(flags & CLONE_NEWNS),
            user_ns=bool(flags & CLONE_NEWUSER),
        )
        return isolation
    return isolation


def _flag_names(flags: int) -> str:
    names = {
        CLONE_NEWNET: "NEWNET",
        CLONE_NEWPID: "NEWPID",
        CLONE_NEWNS: "NEWNS",
        CLONE_NEWUSER: "NEWUSER",
    }
    return "|".join(f"CLONE_{name}" for bit, name in names.items() if flags & bit)


_MOUNT_FLAGS = {
    "ro": 1,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 1 << 10,
    "nodiratime": 1 << 11,
    "relatime": 1 << 21,
    "strictatime": 1 << 24,
}
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096


def _private_mounts(isolation: dict[str, Any], notes: list[str], base: str, quota: int) -> None:
    """In the zygote (PID 1 of the new PID namespace, own mount namespace).

    * a ``/proc`` of the new PID namespace: the host's would show the caller's
      command line (and, for the same uid, its environment);
    * a size-capped tmpfs on the working-directory base: snippets write there;
    * every other mount read-only (``/dev`` aside): snippets cannot change files
      of the host even when they run as the caller's user.
    """
    if not isolation["mount_ns"]:
        return
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        notes.append(f"mount namespace unusable: {exc}")
        return
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        isolation["proc_private"] = True
    except OSError as exc:
        notes.append(f"could not mount a private /proc: {exc}")
    try:
        _mount("tora-sandbox", base, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(quota)},mode=0711")
    except OSError as exc:
        notes.append(
            f"could not mount a tmpfs for working directories ({exc}); not making the file system read-only"
        )
        return
    try:
        with open("/proc/self/mountinfo") as handle:
            mounts = [line.split() for line in handle]
    except OSError as exc:
        notes.append(f"cannot read the mount table: {exc}")
        return
    readonly_root = False
    for fields in mounts:
        target = fields[4].encode().decode("unicode_escape")  # \040 and friends
        if (
            target == base
            or target in ("/dev", "/dev/pts")
            or target == "/proc"
            or target.startswith("/proc/")
        ):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in fields[5].split(","):
            flags |= _MOUNT_FLAGS.get(option, 0)
        try:
            _mount(None, target, None, flags)
            readonly_root = readonly_root or target == "/"
        except OSError as exc:
            notes.append(f"could not make {target} read-only: {exc}")
    isolation["filesystem_readonly"] = readonly_root


def main(argv: list[str]) -> None:
    """Entry point: ``python -s -P _sandbox_zygote.py CONFIG_JSON``."""
    config = json.loads(argv[1])
    notes: list[str] = []
    isolation = _isolate(config, notes)
    lifeline = None
    if isolation["pid_isolated"]:
        # A new PID namespace takes effect for children: fork the real zygote,
        # which becomes its PID 1, and stay behind as its parent.
        lifeline_r, lifeline_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid:
            os.close(lifeline_r)
            os.close(config["request_fd"])
            os.close(config["response_fd"])
            status = 0
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    break
                except ChildProcessError:
                    break
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
        os.close(lifeline_w)
        lifeline = lifeline_r
        _quietly(_prctl, PR_SET_PDEATHSIG, signal.SIGKILL)
        _private_mounts(isolation, notes, config["workdir_base"], config["workdir_quota"])
    Zygote(config, isolation, notes, lifeline).serve()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
