"""Process-wide settings for hazmon's long-running services."""

from __future__ import annotations

import gc
import sys


def settle_heap() -> None:
    """Take what was built at start-up out of the garbage collector's way.

    A service builds its picture of the plant once (registry models, the alarm engine's
    points and sensors: about 190,000 objects for 10,000 sensors) and keeps it. A full
    collection walks all of them, 65-80 ms on this project's 2-core benchmark machine,
    and every reading waiting meanwhile sees that pause. `gc.freeze()` moves them to the
    permanent generation, so collections walk only what was allocated since.
    """
    gc.collect()
    gc.freeze()


SWITCH_INTERVAL_S = 0.001


def quick_handoffs() -> None:
    """Have a thread waiting for the interpreter get it within 1 ms, not 5.

    An alarm goes from the thread that evaluates and commits it to the publishing
    connection's network thread, which must take the interpreter from a thread busy
    with the next messages; at Python's default switch interval (5 ms) each such hop
    waited up to 5 ms. At 10,000 messages/s of one reading each, the alarm p99 was
    35.6 ms at 5 ms and 18.5-26.7 ms at 1 ms in runs without a profiler
    (docs/benchmarks.md).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft limit of open files (RLIMIT_NOFILE) to the hard limit; the
    (soft, hard) limits in force afterwards.

    Every MQTT connection, HTTP client, live event stream, store and file hazmon holds
    takes a descriptor, and systemd's default soft limit is 1024 (docs/deploy.md names
    the `LimitNOFILE=` to set): the hard limit is what the administrator allows, so a
    service takes all of it at start. A limit that cannot be raised is logged and left.
    """
    import logging
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        logging.getLogger(__name__).warning(
            "could not raise the open-files limit from %d to %d: %s", soft, target, exc)
        return soft, hard
    return target, hard
