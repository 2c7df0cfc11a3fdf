"""`--broker nats://h1:4222,h2:4222,...`: the servers of a JetStream cluster."""

from __future__ import annotations

import pytest

from hazmon.contract.errors import ConfigError
from hazmon.contract.settings import is_nats_url, parse_nats_url

pytestmark = pytest.mark.unit


def test_every_server_with_its_port() -> None:
    got = parse_nats_url("nats://h1:4222,h2,10.0.0.3:5222")
    assert got.servers == ("nats://h1:4222", "nats://h2:4222", "nats://10.0.0.3:5222")
    assert is_nats_url("nats://h1") and not is_nats_url("mqtt://h1:1883")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://", "nats://HOST:PORT"),
        ("nats://h1:port", "nats://HOST:PORT"),
        ("nats://h1:4222,", "nats://HOST:PORT"),
        ("nats://h1:4222/x", "nats://HOST:PORT"),
        ("nats://ops:secret@h1:4222", "no credentials in the URL"),
    ],
)
def test_a_bad_url_is_refused_with_the_form_expected(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_nats_url(url)
