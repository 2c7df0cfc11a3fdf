"""The registry's `hidden_dangers` section: which of hazmon's own findings open a hidden
danger (隐患) by themselves, after how long, and the limits of uploaded evidence
(docs/hidden-dangers.md, docs/registry.md). Every field has a default, so a registry
without the section runs the rules with the defaults below.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DangerGrade = Literal["general", "major"]  # 一般隐患, 重大隐患

HOUR_S = 3600.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DangerRule(_Model):
    """One automatic rule: on or off, how long the finding must last, the grade and
    the days the enterprise gets to rectify (the deadline of the record it opens)."""

    enabled: bool = True
    after_s: float = Field(ge=0)
    grade: DangerGrade = "general"
    deadline_days: float = Field(default=7.0, gt=0)


class RepeatRule(_Model):
    """The same sensor at level 2 (`high_high`) `count` times within `window_s`."""

    enabled: bool = True
    count: int = Field(default=3, ge=2)
    window_s: float = Field(default=7 * 24 * HOUR_S, gt=0)
    grade: DangerGrade = "general"
    deadline_days: float = Field(default=7.0, gt=0)


class DangerRules(_Model):
    bypass_past_permit: DangerRule = DangerRule(after_s=0, grade="major", deadline_days=1)
    interlock_out_of_service: DangerRule = DangerRule(after_s=24 * HOUR_S, grade="major",
                                                      deadline_days=3)
    detector_bad: DangerRule = DangerRule(after_s=24 * HOUR_S)
    gateway_offline: DangerRule = DangerRule(after_s=8 * HOUR_S)
    repeat_high_high: RepeatRule = RepeatRule()


class HiddenDangers(_Model):
    rules: DangerRules = DangerRules()
    evidence_max_bytes: int = Field(default=4 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    evidence_per_danger: int = Field(default=20, gt=0, le=200)
