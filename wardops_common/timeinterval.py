"""Time intervals, as Alertmanager's ``timeinterval`` package: parsing and ``contains``.

A named time interval is a list of ``TimeInterval`` s; a time is in the named interval
when any of them contains it. Each ``TimeInterval`` restricts by ``times`` (minutes of
the day, end exclusive), ``weekdays`` (``monday:friday``), ``days_of_month`` (``1:7``,
``-1`` = the last day), ``months`` (``january:march`` or ``1:3``), ``years`` and the
``location`` (an IANA time zone; UTC without one) they are read in. A field left out
does not restrict. Parsing and error texts follow Alertmanager's ``UnmarshalYAML``
methods (``timeinterval/timeinterval.go``), and ``contains`` its ``ContainsTime``,
including the clamping of days of the month beyond the month's length.

Routes name them in ``mute_time_intervals`` (notifications held back while *any* is
current) and ``active_time_intervals`` (held back while *none* is current); the
alerter's pipeline decides per group at each flush with :func:`muted_by`. The exporter's
maintenance windows (exporter.maintenance) use the same syntax. Pure: it sits in
wardops_common so that both programs use it without the exporter importing the alerter.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wardops_common.readers import read_list, read_mapping, read_str

WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4,
            "friday": 5, "saturday": 6}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTH_NAMES = {i: name for name, i in MONTHS.items()}
_TIME = re.compile(r"((([01][0-9])|(2[0-3])):[0-5][0-9])|(24:00)")
_INT = re.compile(r"[+-]?[0-9]+")  # Go's strconv.Atoi
_INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")

Range = tuple[int, int]  # inclusive (begin, end)


@dataclass(frozen=True)
class TimeInterval:
    """One ``time_intervals`` entry; ``None`` fields do not restrict (Go's nil slices),
    an empty tuple matches nothing (Go's empty, non-nil slice)."""

    times: tuple[Range, ...] | None = None          # minutes of the day, end exclusive
    weekdays: tuple[Range, ...] | None = None       # 0 = Sunday
    days_of_month: tuple[Range, ...] | None = None  # negative: from the month's end
    months: tuple[Range, ...] | None = None         # 1 = January
    years: tuple[Range, ...] | None = None
    location: tzinfo | None = None                  # None: UTC

    def contains(self, when: datetime) -> bool:
        """Alertmanager's ``ContainsTime`` for an aware ``when``."""
        t = when.astimezone(self.location or UTC)
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.days_of_month is not None and not _in_days_of_month(t, self.days_of_month):
            return False
        if self.months is not None and not _within(t.month, self.months):
            return False
        if self.weekdays is not None and not _within((t.weekday() + 1) % 7, self.weekdays):
            return False
        return self.years is None or _within(t.year, self.years)


def _within(value: int, ranges: Sequence[Range]) -> bool:
    return any(begin <= value <= end for begin, end in ranges)


def _in_days_of_month(t: datetime, ranges: Sequence[Range]) -> bool:
    days = calendar.monthrange(t.year, t.month)[1]
    for first, last in ranges:
        begin = days + first + 1 if first < 0 else first
        end = days + last + 1 if last < 0 else last
        if begin > days:  # the range starts after this month's last day
            continue
        begin = max(-days, min(begin, days))
        end = max(-days, min(end, days))
        if begin <= t.day <= end:
            return True
    return False


def muted_by(names: Sequence[str], intervals: Mapping[str, Sequence[TimeInterval]],
             now: datetime) -> list[str]:
    """The names (in the order given, each once) whose intervals contain ``now``: the
    ``mutedBy`` of Alertmanager's ``Intervener.Mutes``. Names are checked at load."""
    return [name for name in names if any(ti.contains(now) for ti in intervals[name])]


# --- parsing ----------------------------------------------------------------------------------

def _text(value: object, path: str) -> str:
    # Alertmanager reads each member as a YAML string; an unquoted 2024 or 5 is its text.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{path}: must be a string")
    return str(value)


def _atoi(text: str) -> int:
    if not _INT.fullmatch(text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"{text} is not a valid weekday")
    return WEEKDAYS[text]


def _month(text: str) -> int:
    if text in MONTHS:
        return MONTHS[text]
    try:
        return _atoi(text)
    except ValueError:
        raise ValueError(f"{text} is not a valid month") from None


def _range(text: str, convert: Callable[[str], int]) -> Range:
    """``a:b`` or ``a`` (lower-cased, as Alertmanager's ``stringableRangeFromString``)."""
    text = text.lower()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 2:
            raise ValueError(f"couldn't parse range {text}, invalid format")
        return convert(parts[0]), convert(parts[1])
    value = convert(text)
    return value, value


def parse_weekdays(text: str) -> Range:
    begin, end = _range(text, _weekday)
    if begin > end:
        raise ValueError("start day cannot be before end day")
    if not (0 <= begin <= 6 and 0 <= end <= 6):
        raise ValueError(f"{text} is not a valid day of the week: out of range")
    return begin, end


def parse_days_of_month(text: str) -> Range:
    begin, end = _range(text, _atoi)
    for day in (begin, end):
        if day == 0 or day < -31 or day > 31:
            raise ValueError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < end:
        raise ValueError("end day must be negative if start day is negative")
    # only what is wrong in every month (28 days the shortest) is refused
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"end day {end} is always before start day {begin}")
    return begin, end


def parse_months(text: str) -> Range:
    begin, end = _range(text, _month)
    if begin > end:
        raise ValueError(f"end month {_MONTH_NAMES.get(end, '')} is before start month "
                         f"{_MONTH_NAMES.get(begin, '')}")
    return begin, end


def parse_years(text: str) -> Range:
    begin, end = _range(text, _atoi)
    if begin > end:
        raise ValueError(f"end year {end} is before start year {begin}")
    return begin, end


def parse_clock(text: str) -> int:
    """``HH:MM`` (``24:00`` allowed) as minutes since midnight."""
    if not _TIME.fullmatch(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_text(value: object, path: str) -> str:
    # YAML 1.1 (PyYAML) reads an unquoted 10:00 as the base-60 number 600, where
    # Alertmanager's YAML library keeps the text: turn it back into what was written.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1440:
        return f"{value // 60:02d}:{value % 60:02d}"
    return _text(value, path)


def parse_time_range(raw: object, path: str) -> Range:
    m = read_mapping(raw, path, ("start_time", "end_time"))
    start, end = m.get("start_time"), m.get("end_time")
    if start in (None, "") or end in (None, ""):
        raise ValueError(f"{path}: both start and end times must be provided")
    try:
        first, last = parse_clock(_clock_text(start, path)), parse_clock(_clock_text(end, path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if first >= last:
        raise ValueError(f"{path}: start time cannot be equal or greater than end time")
    return first, last


def load_location(name: str) -> tzinfo:
    """A time zone as Go's ``time.LoadLocation``: ``""``/``UTC`` are UTC, ``Local`` the
    machine's zone, anything else an IANA name."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name}") from None


_PARSERS = {"weekdays": parse_weekdays, "days_of_month": parse_days_of_month,
            "months": parse_months, "years": parse_years}


def parse_time_interval(raw: object, path: str) -> TimeInterval:
    """One entry of a named interval's ``time_intervals``; ``ValueError("path: ...")``."""
    if raw is None:
        return TimeInterval()
    m = read_mapping(raw, path, _INTERVAL_KEYS)
    kw: dict[str, object] = {}
    for key, parse in _PARSERS.items():
        if m.get(key) is None:
            continue
        ranges = []
        for i, item in enumerate(read_list(m[key], f"{path}.{key}")):
            where = f"{path}.{key}[{i}]"
            try:
                ranges.append(parse(_text(item, where)))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        kw[key] = tuple(ranges)
    if m.get("times") is not None:
        kw["times"] = tuple(parse_time_range(item, f"{path}.times[{i}]")
                            for i, item in enumerate(read_list(m["times"], f"{path}.times")))
    if m.get("location") is not None:
        try:
            kw["location"] = load_location(_text(m["location"], f"{path}.location"))
        except ValueError as exc:
            raise ValueError(f"{path}.location: {exc}") from None
    return TimeInterval(**kw)  # type: ignore[arg-type]


def _ranges(ranges: Sequence[Range], names: Mapping[int, str] | None = None) -> list[str]:
    def one(n: int) -> str:
        return names[n] if names else str(n)
    return [one(b) if b == e else f"{one(b)}:{one(e)}" for b, e in ranges]


def interval_yaml(interval: TimeInterval) -> dict[str, object]:
    """``interval`` as Alertmanager's ``MarshalYAML`` writes it (``09:00``,
    ``monday:friday``, ``1:7``, months as numbers, the zone's name), for a config it
    parses."""
    out: dict[str, object] = {}
    if interval.times is not None:
        out["times"] = [{"start_time": f"{b // 60:02d}:{b % 60:02d}",
                         "end_time": f"{e // 60:02d}:{e % 60:02d}"} for b, e in interval.times]
    if interval.weekdays is not None:
        out["weekdays"] = _ranges(interval.weekdays, {v: k for k, v in WEEKDAYS.items()})
    if interval.days_of_month is not None:
        out["days_of_month"] = _ranges(interval.days_of_month)
    if interval.months is not None:
        out["months"] = _ranges(interval.months)  # Alertmanager writes numbers
    if interval.years is not None:
        out["years"] = _ranges(interval.years)
    if interval.location is not None:
        out["location"] = str(interval.location)
    return out


def parse_named_intervals(raw: Mapping[str, object]) -> dict[str, tuple[TimeInterval, ...]]:
    """The top-level ``time_intervals`` and the older ``mute_time_intervals`` (same
    shape): ``{name: intervals}``; a name may be defined once across both."""
    result: dict[str, tuple[TimeInterval, ...]] = {}
    for key, what in (("mute_time_intervals", "mute time interval"),
                      ("time_intervals", "time interval")):
        for i, item in enumerate(read_list(raw.get(key) or [], key)):
            path = f"{key}[{i}]"
            m = read_mapping(item, path, ("name", "time_intervals"))
            if not m.get("name"):
                raise ValueError(f"{path}.name: missing name in {what}")
            name = read_str(m["name"], f"{path}.name")
            if name in result:
                raise ValueError(f"{path}.name: {what} {name!r} is not unique")
            entries = read_list(m.get("time_intervals") or [], f"{path}.time_intervals")
            result[name] = tuple(parse_time_interval(entry, f"{path}.time_intervals[{j}]")
                                 for j, entry in enumerate(entries))
    return result


def route_muted(mute: Sequence[str], active: Sequence[str],
                intervals: Mapping[str, Sequence[TimeInterval]],
                now: datetime) -> tuple[str, list[str]] | None:
    """Whether a route's groups are held back at ``now``, and why: ``(reason, mutedBy)``
    or None. As Alertmanager's pipeline runs its stages: ``active_time_intervals`` first
    (outside all of them: muted by all of them), then ``mute_time_intervals``; the
    reasons are its ``notifications_suppressed_total`` labels."""
    if active and not muted_by(active, intervals, now):
        return "active_time_interval", list(active)
    names = muted_by(mute, intervals, now)
    return ("mute_time_interval", names) if names else None
