"""What every long-running command does the same way: logging, configuration errors,
signals, hazmon's own errors, and running services until told to stop.

    setup_logging(level)                      # one format for every command
    with config_errors(path): load(...)       # every problem with file and line, exit 2
    run(main, command="hazmon up")            # asyncio.run; a HazmonError: exit 1
    stop = stop_on_signals()                  # SIGINT/SIGTERM: stop; a second: at once
    await supervise(services, stop, ...)      # start, wait ready, run, stop in order

A `Service` is anything with `async run(*, ready)` that sets `ready` once it takes
work and runs until cancelled (where it flushes): `IngestService`, `AlarmService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import typer

from hazmon.contract.errors import ConfigError, HazmonError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("hazmon")


class Service(Protocol):
    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; set `ready` once taking work."""


def setup_logging(level: str, *, quiet: Sequence[str] = ()) -> None:
    """The process's log format; `quiet` loggers only from WARNING (a line per request
    or per poll otherwise)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def config_errors(path: Path | str, *, what: str = "nothing started") -> Iterator[None]:
    """Every problem of a configuration file with its file and line, then exit 2."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {path}; {what}", err=True)
        raise typer.Exit(2) from None


def hazmon_error(exc: BaseException) -> HazmonError | None:
    """The first of hazmon's own errors in `exc` (also inside an exception group)."""
    if isinstance(exc, HazmonError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = hazmon_error(inner)
            if found is not None:
                return found
    return None


def run(main: Callable[[], Coroutine[Any, Any, None]], *, command: str = "hazmon") -> None:
    """`asyncio.run(main())`: one of hazmon's own errors ends it with its sentence and
    status 1; a second signal (the first one's stop cut short) with status 130."""
    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        raise typer.Exit(130) from None
    except (HazmonError, BaseExceptionGroup) as exc:
        cause = hazmon_error(exc)
        if cause is None:
            raise
        typer.echo(f"{command}: {cause}", err=True)
        raise typer.Exit(1) from None


def stop_on_signals() -> asyncio.Event:
    """An event SIGINT or SIGTERM sets; a second signal cancels the main task at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return stop


async def until_ready(readies: Sequence[asyncio.Event], stop: asyncio.Event) -> bool:
    """True once every service is ready; False if asked to stop first."""
    everyone: asyncio.Future[Any] = asyncio.gather(*(r.wait() for r in readies))
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({everyone, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        everyone.cancel()
        stopper.cancel()
    return everyone in done


async def supervise(
    services: Sequence[tuple[str, Service]],
    stop: asyncio.Event,
    *,
    extra: Sequence[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = (),
    when_ready: Callable[[asyncio.TaskGroup], Awaitable[list[Callable[[], Awaitable[None]]]]]
    | None = None,
) -> None:
    """Run the services (and `extra` background jobs) in one task group. Once all of
    them are ready, `when_ready(group)` starts what needs them (the HTTP server, a
    simulator) and returns how to stop each; then it waits for `stop`. Stopping: those
    first, in order, then the services are cancelled (where they flush). The failure
    of any of them ends the group: its error leaves here."""
    async with asyncio.TaskGroup() as group:
        readies = [asyncio.Event() for _ in services]
        running = [group.create_task(service.run(ready=ready), name=name)
                   for (name, service), ready in zip(services, readies, strict=True)]
        running += [group.create_task(job(), name=name) for name, job in extra]
        stoppers: list[Callable[[], Awaitable[None]]] = []
        if await until_ready(readies, stop):
            if when_ready is not None:
                stoppers = await when_ready(group)
            await stop.wait()
        log.info("stopping: the front first, then the services flush")
        for stopper in stoppers:
            await stopper()
        for task in running:
            task.cancel()
