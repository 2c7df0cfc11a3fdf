"""`hazmon ingest` as a separate process, for the tests that kill it or run two."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from hazmon.testing.processes import Child, hazmon, http_ok
from hazmon.testing.servers import free_port
from tests.ingest.helpers import Publisher

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


class IngestProcess:
    def __init__(
        self, *, config: Path, broker: str, influx: str, data: Path, share: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.http_port = free_port()
        self.data = data
        argv = hazmon("ingest", "--config", str(config), "--broker", broker,
                      "--influx", influx, "--data", str(data),
                      "--http", f"127.0.0.1:{self.http_port}")  # fmt: skip
        if share:
            argv += ["--share", share]
        self.child = Child(argv, log=data.parent / f"{data.name}-ingest.log", name="ingest",
                           env=env)

    def start(self, timeout_s: float = 30.0) -> None:
        self.child.start()
        self.child.wait_ready(http_ok(f"http://127.0.0.1:{self.http_port}/health"),
                              timeout_s=timeout_s, what="healthy")  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """Every sample, summed over its labels."""
        text = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics").text
        out: dict[str, float] = {}
        for line in text.splitlines():
            found = _SAMPLE.match(line)
            if found:
                out[found[1]] = out.get(found[1], 0.0) + float(found[3])
        return out

    def kill(self) -> None:
        """SIGKILL: nothing is flushed."""
        self.child.kill()

    def stop(self) -> int:
        """SIGTERM and wait: what is held is flushed."""
        return self.child.stop(timeout_s=60)


class PacedPublisher(threading.Thread):
    """Publishes (topic, payload) pairs at about `rate_per_s` messages a second."""

    def __init__(
        self, host: str, port: int, messages: Iterable[tuple[str, bytes]], rate_per_s: float
    ) -> None:
        super().__init__(name="paced-publisher", daemon=True)
        self.publisher = Publisher(host, port)
        self.messages = list(messages)
        self.rate_per_s = rate_per_s
        self.error: BaseException | None = None

    @property
    def sent(self) -> int:
        return self.publisher.published

    def run(self) -> None:
        try:
            started = time.monotonic()
            for i, (topic, payload) in enumerate(self.messages):
                ahead_s = i / self.rate_per_s - (time.monotonic() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
                self.publisher.publish(topic, payload)
            self.publisher.close()
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout_s: float = 120.0) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "publisher did not finish"
        if self.error:
            raise self.error
