"""`hazmon demo` on a machine without Mosquitto (the embedded broker is amqtt): no
ERROR in its log for a minute, and the first alarm on the API within 30 s of the
command. Also: the demo says when port 1883 is taken and which port its broker takes."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest

from hazmon.testing.servers import free_port
from tests.api.running import Hazmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "demo-test-token"
FIRST_ALARM_S = 30.0
QUIET_S = 60.0


def without_mosquitto() -> dict[str, str]:
    """PATH without the folders that hold Mosquitto, and the embedded broker chosen
    as `auto` would choose it there."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    path = [f for f in folders if f and not (Path(f) / "mosquitto").exists()]
    return {"PATH": os.pathsep.join(path), "HAZMON_DEMO_TOKEN": TOKEN}


def test_demo_on_amqtt_logs_no_error_and_alarms_within_30_s(tmp_path: Path) -> None:
    started = time.monotonic()
    demo = Hazmon("demo", "--data", str(tmp_path / "data"), "--embedded-broker", "amqtt",
                  http=f"127.0.0.1:{free_port()}", log=tmp_path / "demo.log",
                  env=without_mosquitto())
    try:
        demo.wait_serving(timeout_s=FIRST_ALARM_S)
        assert "(embedded amqtt" in demo.output()
        first_alarm_s = None
        while time.monotonic() - started < QUIET_S:
            if first_alarm_s is None and demo.get("/api/v1/alarms", TOKEN):
                first_alarm_s = time.monotonic() - started
            time.sleep(1)
        output = demo.output()
    finally:
        code = demo.stop()
    assert first_alarm_s is not None and first_alarm_s <= FIRST_ALARM_S, (first_alarm_s, output)
    errors = [line for line in output.splitlines() if " ERROR " in line or "Traceback" in line]
    assert errors == [], output[-5000:]
    assert "MQTT 5" not in output  # 3.1.1 from the first CONNECT: no probe
    assert code == 0, output[-3000:]
    stopped = demo.output()  # amqtt's shutdown: no traceback either
    assert " ERROR " not in stopped and "Traceback" not in stopped, stopped[-5000:]
    assert "stopped" in stopped


def test_demo_says_when_1883_is_taken_and_which_port_it_uses(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        try:
            holder.bind(("127.0.0.1", 1883))
            holder.listen()
        except OSError:
            pass  # another server listens there already: the same case
        demo = Hazmon("demo", "--data", str(tmp_path / "data"), "--embedded-broker", "amqtt",
                      http=f"127.0.0.1:{free_port()}", log=tmp_path / "demo.log",
                      env=without_mosquitto())
        try:
            demo.wait_serving(timeout_s=60)
            output = demo.output()
        finally:
            demo.stop()
    assert re.search(r"MQTT broker: +mqtt://127\.0\.0\.1:(\d+) \(embedded amqtt; port 1883 "
                     r"was in use, so port \1\)", output), output
    assert re.search(r"port 1883 is in use .*listens on \d+ instead", output), output
