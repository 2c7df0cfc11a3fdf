"""Child processes of the benchmark, and their CPU and peak memory.

`Child` starts a command with its output in a log file and stops it by its own pid
(SIGTERM, then SIGKILL after a grace period). `ResourceMonitor` samples a set of
named pids every 0.5 s for resident memory and reads their CPU time at the start and
the end of a phase.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STOP_GRACE_S = 20.0

_live: set[Child] = set()


@atexit.register
def _stop_leftovers() -> None:
    for child in list(_live):
        with contextlib.suppress(Exception):
            child.stop()


class Child:
    """One command run in the background, its stdout and stderr in `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ) | dict(env or {})
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """Its return code once it ended (negative: the signal that ended it)."""
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )
        _live.add(self)

    def stop(self, *, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _live.discard(self)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL, and wait for it to be gone."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        _live.discard(self)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class Usage:
    """CPU seconds used and peak resident memory of one process over a phase."""

    cpu_s: float = 0.0
    peak_rss_bytes: int = 0


@dataclass
class _Watched:
    proc: psutil.Process
    cpu_start_s: float
    usage: Usage = field(default_factory=Usage)


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class ResourceMonitor:
    """Samples named processes every `interval_s` until `stop()`; a context manager."""

    def __init__(self, pids: Mapping[str, int], *, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self._watched: dict[str, _Watched] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                self._watched[name] = _Watched(proc, _cpu_s(proc))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)
        self.started_s = time.monotonic()
        self.wall_s = 0.0

    def add(self, name: str, pid: int) -> None:
        """Watch one more process from now on (a publisher started mid-phase)."""
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            self._watched[name] = _Watched(proc, _cpu_s(proc))

    def __enter__(self) -> ResourceMonitor:
        self.started_s = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sample(self) -> None:
        for watched in list(self._watched.values()):
            with contextlib.suppress(psutil.Error):
                rss = int(watched.proc.memory_info().rss)
                watched.usage.peak_rss_bytes = max(watched.usage.peak_rss_bytes, rss)
                watched.usage.cpu_s = _cpu_s(watched.proc) - watched.cpu_start_s

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> dict[str, Usage]:
        if not self._stop.is_set():
            self._sample()
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join()
            self.wall_s = time.monotonic() - self.started_s
        return self.usage()

    def usage(self) -> dict[str, Usage]:
        return {name: watched.usage for name, watched in self._watched.items()}

    def cpu_now_s(self, name: str) -> float:
        """CPU seconds `name` used since it was first watched (for the live display)."""
        watched = self._watched.get(name)
        if watched is None:
            return 0.0
        with contextlib.suppress(psutil.Error):
            return _cpu_s(watched.proc) - watched.cpu_start_s
        return watched.usage.cpu_s
