"""py-spy profiles of hazmon's processes during the phases, and their hottest frames.

With `--profile DIR`, each phase runs `py-spy record --nonblocking --format raw` on
`hazmon ingest` and `hazmon alarms` (100 samples/s, the processes are not paused) and
stops it with SIGINT at the end of the phase. `hottest()` reads the collapsed stacks and
ranks functions by own time and by time including callees, leaving out frames where a
thread only waits (locks, selectors, queues, sleeps).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

IDLE_LEAVES = frozenset({
    "wait", "_wait_for_tstate_lock", "select", "poll", "sleep", "acquire", "get", "_worker",
    "accept", "serve_forever", "run_forever", "_run_once", "readinto", "recv_into",
})


class Recorder:
    """py-spy on a set of processes, from `start()` until `stop()`."""

    def __init__(self, out_dir: Path, label: str, pids: dict[str, int]) -> None:
        self.out_dir = out_dir
        self.label = label
        self.pids = pids
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Path] = []

    @staticmethod
    def available() -> str | None:
        local = Path(sys.executable).with_name("py-spy")
        return str(local) if local.exists() else shutil.which("py-spy")

    def start(self) -> None:
        binary = self.available()
        if binary is None:
            raise RuntimeError("py-spy not found: pip install py-spy")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            path = self.out_dir / f"{self.label}-{name}.txt".replace(" ", "-").replace("/", "")
            self.files.append(path)
            self.procs.append(subprocess.Popen(
                [binary, "record", "--nonblocking", "--rate", "100", "--format", "raw",
                 "--output", str(path), "--pid", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass(frozen=True, slots=True)
class Hottest:
    samples: int  # busy samples (idle leaves left out)
    own: list[tuple[str, int]]
    including: list[tuple[str, int]]


def _frame(text: str) -> str:
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", text)
    if not match:
        return text
    func, path = match.groups()
    path = path.split("site-packages/")[-1].split("/work/main/")[-1]
    return f"{func} ({path})"


def hottest(path: Path, *, top: int = 15) -> Hottest:
    own: Counter[str] = Counter()
    including: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack_text, count_text = line.rsplit(" ", 1)
        frames = [_frame(f) for f in stack_text.split(";")]
        n = int(count_text)
        if frames[-1].split(" (")[0].rsplit(".", 1)[-1] in IDLE_LEAVES:
            continue
        busy += n
        own[frames[-1]] += n
        for frame in set(frames):
            including[frame] += n
    return Hottest(busy, own.most_common(top), including.most_common(top * 3))


def markdown(path: Path, *, top: int = 12) -> str:
    h = hottest(path, top=top)
    if not h.samples:
        return f"`{path.name}`: no busy samples"
    lines = [f"`{path.name}` ({h.samples:,} busy samples)", "",
             "| own time | function |", "|---:|---|"]
    lines += [f"| {100 * n / h.samples:.1f} % | `{f}` |" for f, n in h.own]
    lines += ["", "| incl. callees | function |", "|---:|---|"]
    lines += [
        f"| {100 * n / h.samples:.1f} % | `{f}` |"
        for f, n in h.including
        if not f.startswith(("Thread.", "_bootstrap", "<module>"))
    ][: top + 8]
    return "\n".join(lines)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(markdown(Path(arg)))
        print()
