"""ISO weeks: the unit the report archive is organised by (`2026-W48`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        date.fromisocalendar(self.year, self.week, 1)  # raises ValueError for W53 in a 52-week year

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """ "2026-W48" (also "2026W48", "2026-w48") → IsoWeek; ValueError with a usable message."""
        match = _WEEK.match(text)
        if not match:
            raise ValueError(f"{text!r} is not an ISO week; use YYYY-Www, e.g. 2026-W48")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO week: {match.group(1)} has no week {match.group(2)}") from None

    @classmethod
    def of(cls, moment: datetime | date, tz: tzinfo | None = None) -> IsoWeek:
        """The week containing `moment` (a datetime is first converted to `tz`, the schedule's zone)."""
        if isinstance(moment, datetime):
            moment = (moment.astimezone(tz) if tz is not None else moment).date()
        year, week, _ = moment.isocalendar()
        return cls(year, week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def start(self) -> date:
        """Monday."""
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def end(self) -> date:
        """Sunday."""
        return self.start + timedelta(days=6)

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.start - timedelta(days=7))

    def at(self, day: str, hour: int, minute: int, tz: tzinfo) -> datetime:
        """The moment `day hour:minute` (e.g. "mon", 8, 0) of this week in `tz`, as an aware datetime."""
        moment = self.start + timedelta(days=_WEEKDAYS.index(day[:3].lower()))
        return datetime.combine(moment, time(hour, minute), tzinfo=tz)
