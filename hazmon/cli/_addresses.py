"""`--http HOST:PORT` options: a host alone takes the command's default port.

    --http 127.0.0.1:8080      --http localhost (port 8080)      --http [::1]:8080
"""

from __future__ import annotations

from collections.abc import Callable

import typer


def http_address(text: str, *, default_port: int) -> str:
    """`HOST:PORT` for `text`; a host alone gets `default_port`. ValueError if not valid."""
    text = text.strip()
    if text.startswith("["):  # [IPv6]:PORT or [IPv6]
        host, bracket, rest = text[1:].partition("]")
        if not host or not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"HOST:PORT (an IPv6 host in brackets, [::1]:8080), got {text!r}")
        port_text = rest[1:]
        host = f"[{host}]"
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        raise ValueError(f"HOST:PORT (an IPv6 host in brackets, [::1]:8080), got {text!r}")
    else:
        host, port_text = text, ""
    if not port_text:
        port = default_port
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"HOST:PORT with a port from 1 to 65535, got {text!r}")
    return f"{host or '127.0.0.1'}:{port}"


def http_option(default_port: int) -> Callable[[str], str]:
    """A typer callback: the option's value as HOST:PORT, or a usage error naming it."""

    def check(value: str) -> str:
        try:
            return http_address(value, default_port=default_port)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check
