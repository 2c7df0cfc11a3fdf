"""How many live event streams may be open: per token, per client address, in total.

Each open stream holds a socket (a file descriptor) for as long as its client
wants. Without a cap, one viewer token can open streams until the process runs out
of descriptors, and then nothing in it can open a file or a socket. So:

    gate = StreamGate(StreamCaps(per_token=10, per_address=20, total=200))
    lease = gate.open(token_key, address)   # or TooManyStreams (429) / StreamsFull (503)
    ...
    lease.release()                          # when the stream ends, however it ends

Beyond a token's or an address's share the answer is 429 (that client should close
some); beyond the total it is 503 (the server is full, whoever asks). The counts are
kept on the event loop, where the routes run: no lock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from hazmon.api.errors import ApiError

RETRY_AFTER_S = 10


class TooManyStreams(ApiError):
    """429: this token or this address already has its share of open streams."""

    status = 429
    code = "too_many_streams"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_S)}


class StreamsFull(ApiError):
    """503: the server holds as many streams as it may, whoever asks."""

    status = 503
    code = "streams_full"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_S)}


@dataclass(frozen=True, slots=True)
class StreamCaps:
    """The most streams open at once for one token, one client address, and all."""

    per_token: int = 10
    per_address: int = 20
    total: int = 200


class Lease:
    """One open stream's place; `release()` gives it back (once, however often called)."""

    __slots__ = ("_address", "_gate", "_held", "_token")

    def __init__(self, gate: StreamGate, token: str, address: str) -> None:
        self._gate = gate
        self._token = token
        self._address = address
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate._give_back(self._token, self._address)


class StreamGate:
    def __init__(self, caps: StreamCaps = StreamCaps()) -> None:
        self.caps = caps
        self._tokens: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self.open_streams = 0
        self.refused = 0

    def open(self, token: str, address: str) -> Lease:
        """A lease for one more stream of `token` from `address`, if the caps allow."""
        caps = self.caps
        if self._tokens[token] >= caps.per_token:
            self.refused += 1
            raise TooManyStreams(
                f"this token already has {caps.per_token} live streams open: close one first"
            )
        if self._addresses[address] >= caps.per_address:
            self.refused += 1
            raise TooManyStreams(
                f"this address already has {caps.per_address} live streams open: "
                "close one first"
            )
        if self.open_streams >= caps.total:
            self.refused += 1
            raise StreamsFull(
                f"the server holds its maximum of {caps.total} live streams: try again later"
            )
        self._tokens[token] += 1
        self._addresses[address] += 1
        self.open_streams += 1
        return Lease(self, token, address)

    def _give_back(self, token: str, address: str) -> None:
        self.open_streams -= 1
        for counter, key in ((self._tokens, token), (self._addresses, address)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
