"""Errors of the embedded broker."""

from __future__ import annotations

from hazmon.contract.errors import HazmonError


class BrokerError(HazmonError):
    """The embedded broker could not be started."""
