"""Child processes of the tests and benchmarks: `hazmon ...` (or any command) with its
output in a log file, waited for until it is ready, stopped with a chosen signal.

    with Child(hazmon("ingest", "--config", ...), log=tmp_path / "ingest.log") as ingest:
        ingest.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"))
        ...
        assert ingest.stop() == 0, ingest.log_tail()   # SIGTERM: it flushes what it holds

Every wait is bounded: `wait_ready()` and `wait()` raise `ChildError` with the tail of
the log when the process ends early or the time is up (and kill it then); `stop()` sends
its signal, waits, and kills the process when it does not end (its return code then
says SIGKILL).
`output()` is what the process wrote since its last start. A child that a test left
running is killed when the interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

READY_S = 30.0
STOP_S = 30.0
POLL_S = 0.1
LOG_TAIL_LINES = 40


class ChildError(RuntimeError):
    """A child process did not do what was waited for; the message ends with its log."""

    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"{name}: {reason}\n--- its output, the end ---\n{log_tail}")


def hazmon(*args: str) -> list[str]:
    """The command line of `hazmon ARGS...` run by this interpreter."""
    return [sys.executable, "-m", "hazmon.cli", *args]


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: `url` answers 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


_live: set[Child] = set()


@atexit.register
def _kill_leftovers() -> None:
    for child in list(_live):
        with contextlib.suppress(Exception):
            child.stop(signal.SIGKILL)


class Child:
    """One command run in the background, stdout and stderr appended to `log`.

    `env` is added to this process's environment; `umask`, when given, is the child's.
    `start()` may be called again once it has ended (the same command, the same log).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        umask: int | None = None,
        name: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.umask = umask
        self.name = name or " ".join(Path(a).name for a in self.argv[:4])
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_from = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Child:
        if self.running:
            raise ChildError(self.name, "started while it runs", self.log_tail())
        self.log.parent.mkdir(parents=True, exist_ok=True)
        in_child = None if self.umask is None else self._in_child
        with open(self.log, "ab") as out:
            self._log_from = out.tell()
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, preexec_fn=in_child,
            )  # fmt: skip
        _live.add(self)
        return self

    def _in_child(self) -> None:
        assert self.umask is not None
        os.umask(self.umask)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        return self._started().pid

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it started); negative: ended by that signal."""
        return None if self._proc is None else self._proc.poll()

    def wait_ready(self, ready: Callable[[], bool], *, timeout_s: float = READY_S,
                   what: str = "ready") -> None:  # fmt: skip
        """Until `ready()` holds. ChildError if the process ends first, or if time is up
        (then it is killed)."""
        proc = self._started()
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None:
                raise ChildError(self.name, f"ended with {proc.returncode} before {what}",
                                 self.log_tail())  # fmt: skip
            if time.monotonic() > deadline:
                self.kill()
                raise ChildError(self.name, f"not {what} after {timeout_s:g} s: killed",
                                 self.log_tail())  # fmt: skip
            time.sleep(POLL_S)

    def wait_output(self, text: str, *, count: int = 1, timeout_s: float = READY_S) -> None:
        """Until it has written `text` (`count` times) since it started."""
        what = f"saying {text!r}" + (f" {count} times" if count > 1 else "")
        self.wait_ready(lambda: self.output().count(text) >= count, timeout_s=timeout_s,
                        what=what)  # fmt: skip

    def wait(self, timeout_s: float = STOP_S) -> int:
        """Until it ends by itself: its return code. Killed, and ChildError, if it does not."""
        proc = self._started()
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ChildError(self.name, f"still running after {timeout_s:g} s: killed",
                             self.log_tail()) from None  # fmt: skip
        _live.discard(self)
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout_s: float = STOP_S) -> int:
        """Send `sig` and wait up to `timeout_s`, then SIGKILL: the return code (-9 when
        it had to be killed, as after SIGKILL itself). An ended process is left as is."""
        proc = self._started()
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _live.discard(self)
        return proc.returncode

    def kill(self) -> int:
        """SIGKILL: nothing is flushed."""
        return self.stop(signal.SIGKILL)

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise ChildError(self.name, "not started", "")
        return self._proc

    # --- what it wrote ----------------------------------------------------------------

    def output(self) -> str:
        """What it wrote since it was last started."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_from)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.output().splitlines()[-lines:]) or f"({self.log.name}: nothing)"

    # --- as a context manager ---------------------------------------------------------

    def __enter__(self) -> Child:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self.stop()

    def __repr__(self) -> str:
        state = f"pid {self._proc.pid}" if self.running and self._proc else "not running"
        return f"<Child {self.name}: {state}>"
