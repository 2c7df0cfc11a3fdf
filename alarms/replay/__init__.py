"""What-if replay of thresholds (docs/alarms.md, "What-if replay"): the real alarm core
run over stored history for the registry in force and a proposed one, and what each
would have shown an operator.

    from hazmon.alarms.replay import compare, replay
    runs = replay(store, {"current": current, "proposed": proposed}, from_ms=, to_ms=)
    report = compare(runs["current"], runs["proposed"], from_ms=, to_ms=)

- `run`: the engines fed from the store, one gateway at a time, the readings' own
  timestamps as the clock (`replay`, `Run`);
- `source`: a gateway's readings read back from a store in pages (bounded memory);
- `figures`: the arithmetic of the report (alarms per operator per 10 minutes,
  floods, chattering, fleeting and standing alarms, time in alarm, crossings missed
  or delayed);
- `render`: the report as a plain-text table.
"""

from hazmon.alarms.replay.figures import Episode, compare, episodes
from hazmon.alarms.replay.run import BadRange, Run, replay

__all__ = ["BadRange", "Episode", "Run", "compare", "episodes", "replay"]
