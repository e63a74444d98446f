"""Time intervals, pure: Alertmanager's own test cases (timeinterval_test.go, ported case
by case: the same intervals, the same times, the same error texts), plus the route-level
decision (active before mute) and the config checks around it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from alerter.notify.config import parse_notify_config
from wardops_common.timeinterval import (
    TimeInterval,
    muted_by,
    parse_named_intervals,
    parse_time_interval,
    parse_time_range,
    route_muted,
)

SYDNEY = ZoneInfo("Australia/Sydney")


def rfc822z(text: str) -> datetime:
    """Go's ``time.RFC822Z`` layout: ``02 Jan 06 15:04 -0700`` (a one-digit day too)."""
    return datetime.strptime(text, "%d %b %y %H:%M %z")


def interval(**fields: object) -> TimeInterval:
    """``TimeInterval`` from Alertmanager's struct literals (ranges as (begin, end))."""
    return TimeInterval(**{k: tuple(v) if isinstance(v, list) else v  # type: ignore[arg-type]
                           for k, v in fields.items()})


# timeIntervalTestCases: (interval, valid times, invalid times)
CONTAINS_CASES = [
    (interval(), ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"],
     []),
    # 9am to 5pm, monday to friday
    (interval(times=[(540, 1020)], weekdays=[(1, 5)]),
     ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
     ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"]),
    # Easter 2020
    (interval(days_of_month=[(4, 6)], months=[(4, 4)], years=[(2020, 2020)]),
     ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
     ["03 May 18 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000",
      "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000"]),
    # negative days of month: the last 3 days of each month
    (interval(days_of_month=[(-3, -1)]),
     ["31 Jan 20 15:04 +0000", "30 Jan 20 15:04 +0000", "29 Jan 20 15:04 +0000",
      "30 Jun 20 00:00 +0000", "29 Feb 20 23:05 +0000"],
     ["03 May 18 15:04 +0000", "27 Jan 20 15:04 +0000", "03 Apr 20 23:59 +0000",
      "04 Jun 20 23:59 +0000", "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000",
      "01 Mar 20 00:00 +0000"]),
    # out of bound days are clamped to month boundaries
    (interval(months=[(6, 6)], days_of_month=[(-31, 31)]),
     ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
     ["31 May 20 00:00 +0000", "1 Jul 20 00:00 +0000"]),
    # another time zone: AEST 9AM to 5PM, Monday to Friday
    (interval(times=[(540, 1020)], weekdays=[(1, 5)], location=SYDNEY),
     ["06 Apr 21 13:00 +1000"], ["06 Apr 21 13:00 +0000"]),
    # ... during daylight saving time
    (interval(times=[(540, 1020)], weekdays=[(1, 5)], months=[(11, 11)], location=SYDNEY),
     ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"], ["31 Oct 21 21:00 +0000"]),
    # last-day mutes do not shift in spring-forward months
    (interval(days_of_month=[(-1, -1)], location=ZoneInfo("America/New_York")),
     ["31 Mar 21 12:00 -0400"], ["30 Mar 21 12:00 -0400"]),
]


@pytest.mark.parametrize(("ti", "valid", "invalid"), CONTAINS_CASES)
def test_contains_time(ti: TimeInterval, valid: list[str], invalid: list[str]) -> None:
    for text in valid:
        assert ti.contains(rfc822z(text)), text
    for text in invalid:
        assert not ti.contains(rfc822z(text)), text


# timeStringTestCases
@pytest.mark.parametrize(("raw", "expected"), [
    ({"start_time": "00:00", "end_time": "24:00"}, (0, 1440)),
    ({"start_time": "01:35", "end_time": "17:39"}, (95, 1059)),
    ({"start_time": "09:35", "end_time": "09:39"}, (575, 579)),
    ({"start_time": "17:31", "end_time": "17:31"}, None),  # begin and end the same
    ({"start_time": "12:30", "end_time": "24:01"}, None),  # end out of range
    ({"start_time": "09:30", "end_time": "07:41"}, None),  # start after end
    ({"start_time": "24:00", "end_time": "17:41"}, None),
    ({"start_time": "14:03"}, None),                       # no end
])
def test_parse_time_range(raw: dict[str, str], expected: tuple[int, int] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_time_range(raw, "t")
    else:
        assert parse_time_range(raw, "t") == expected


def _intervals(text: str) -> list[TimeInterval]:
    return [parse_time_interval(item, f"[{i}]")
            for i, item in enumerate(yaml.safe_load(text))]


# yamlUnmarshalTestCases: (yaml, expected intervals or error text, contains, excludes)
YAML_CASES: list[tuple[str, list[TimeInterval] | str, list[str], list[str]]] = [
    ("- weekdays: ['monday:friday']\n  times:\n    - start_time: '09:00'\n"
     "      end_time: '17:00'\n",
     [interval(weekdays=[(1, 5)], times=[(540, 1020)])],
     ["08 Jul 20 09:00 +0000", "08 Jul 20 16:59 +0000"],
     ["08 Jul 20 05:00 +0000", "08 Jul 20 08:59 +0000"]),
    # last week, excluding Saturday, of the first quarter during business hours from
    # 2020 to 2025 and 2030-2035
    ("- weekdays: ['monday:friday', 'sunday']\n  months: ['january:march']\n"
     "  days_of_month: ['-7:-1']\n  years: ['2020:2025', '2030:2035']\n  times:\n"
     "    - start_time: '09:00'\n      end_time: '17:00'\n",
     [interval(weekdays=[(1, 5), (0, 0)], times=[(540, 1020)], months=[(1, 3)],
               days_of_month=[(-7, -1)], years=[(2020, 2025), (2030, 2035)])],
     ["27 Jan 21 09:00 +0000", "28 Jan 21 16:59 +0000", "29 Jan 21 13:00 +0000",
      "31 Mar 25 13:00 +0000", "31 Jan 35 13:00 +0000"],
     ["30 Jan 21 13:00 +0000", "01 Apr 21 13:00 +0000", "30 Jan 26 13:00 +0000",
      "31 Jan 35 17:01 +0000"]),
    ("- times:\n    - start_time: '01:99'\n      end_time: '23:59'",
     "couldn't parse timestamp 01:99, invalid format", [], []),
    ("- times:\n    - start_time: '00:00'\n      end_time: '99:99'",
     "couldn't parse timestamp 99:99, invalid format", [], []),
    ("- weekdays: ['friday:monday']", "start day cannot be before end day", [], []),
    ("- weekdays: ['blurgsday:flurgsday']", "blurgsday is not a valid weekday", [], []),
    ("- weekdays: ['1:3']", "1 is not a valid weekday", [], []),
    ("- weekdays: ['-2:-1']", "-2 is not a valid weekday", [], []),
    ("- days_of_month: ['0']", "0 is not a valid day of the month: out of range", [], []),
    ("- days_of_month: ['-50:-20']", "-50 is not a valid day of the month: out of range",
     [], []),
    ("- days_of_month: ['1:50']", "50 is not a valid day of the month: out of range", [], []),
    ("- days_of_month: ['1:-1']", [interval(days_of_month=[(1, -1)])], [], []),
    ("- days_of_month: ['-15:5']", "end day must be negative if start day is negative",
     [], []),
    ("- days_of_month: ['10:-25']", "end day -25 is always before start day 10", [], []),
    ("- months: ['January:december']", [interval(months=[(1, 12)])], [], []),
    ("- years: ['2020:2022']\n  location: 'Australia/Sydney'",
     [interval(years=[(2020, 2022)], location=SYDNEY)], [], []),
    ("- months: ['martius:june']", "martius is not a valid month", [], []),
    ("- months: ['march:junius']", "junius is not a valid month", [], []),
    ("- months: ['december:january']", "end month january is before start month december",
     [], []),
    ("- years: ['2022:2020']", "end year 2020 is before start year 2022", [], []),
    ("- location: 'Mars/Olympus_Mons'", "unknown time zone Mars/Olympus_Mons", [], []),
]


@pytest.mark.parametrize(("text", "expected", "contains", "excludes"), YAML_CASES)
def test_yaml(text: str, expected: list[TimeInterval] | str, contains: list[str],
              excludes: list[str]) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError) as err:
            _intervals(text)
        assert str(err.value).endswith(": " + expected)  # after the field's path
        return
    got = _intervals(text)
    assert got == expected
    for t in contains:
        assert any(ti.contains(rfc822z(t)) for ti in got), t
    for t in excludes:
        assert not any(ti.contains(rfc822z(t)) for ti in got), t


# completeTestCases
@pytest.mark.parametrize(("text", "contains", "excludes"), [
    ("weekdays: ['monday:wednesday', 'saturday', 'sunday']\ntimes:\n"
     "  - start_time: '13:00'\n    end_time: '15:00'\ndays_of_month: ['1', '10', '20:-1']\n"
     "years: ['2020:2023']\nmonths: ['january:march']\n",
     ["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
     ["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"]),
    # broken clamping (a begin day after the end of the month clamped to its end)
    ("days_of_month: ['30:31']\nyears: ['2020:2023']\nmonths: ['february']\n",
     [], ["28 Feb 21 13:00 +0000"]),
    # unquoted numbers are their text, as Alertmanager reads them
    ("days_of_month: [1, -1]\nyears: [2021]\n",
     ["01 Feb 21 13:00 +0000", "28 Feb 21 13:00 +0000"], ["02 Feb 21 13:00 +0000"]),
])
def test_complete(text: str, contains: list[str], excludes: list[str]) -> None:
    ti = parse_time_interval(yaml.safe_load(text), "t")
    for t in contains:
        assert ti.contains(rfc822z(t)), t
    for t in excludes:
        assert not ti.contains(rfc822z(t)), t


EVENINGS_AND_WEEKENDS = {
    "evenings": (interval(times=[(0, 540), (1020, 1440)], location=SYDNEY),),
    "weekends": (interval(weekdays=[(6, 6), (0, 0)], location=SYDNEY),),
}
UTC_ZONE = ZoneInfo("UTC")


# TestIntervener_Mutes
@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2024, 1, 1, 0, 0, tzinfo=SYDNEY), ["evenings"]),       # outside working hours
    (datetime(2024, 1, 1, 9, 0, tzinfo=SYDNEY), []),                 # working hours
    (datetime(2024, 1, 6, 10, 0, tzinfo=SYDNEY), ["weekends"]),
    (datetime(2024, 1, 6, 17, 0, tzinfo=SYDNEY), ["evenings", "weekends"]),
    (datetime(2024, 1, 1, 10, 0, tzinfo=UTC_ZONE), ["evenings"]),    # 9 pm in Sydney
    (datetime(2024, 1, 6, 10, 0, tzinfo=UTC_ZONE), ["evenings", "weekends"]),
])
def test_intervener_mutes(now: datetime, expected: list[str]) -> None:
    assert muted_by(["evenings", "weekends"], EVENINGS_AND_WEEKENDS, now) == expected


def test_route_decision_active_before_mute() -> None:
    """Outside every active interval: muted by all of them (the mute intervals are not
    looked at, as Alertmanager's pipeline stops at its active stage)."""
    working_hours_monday = datetime(2024, 1, 1, 10, 0, tzinfo=SYDNEY)
    saturday_evening = datetime(2024, 1, 6, 18, 0, tzinfo=SYDNEY)
    both = EVENINGS_AND_WEEKENDS
    assert route_muted([], ["weekends"], both, working_hours_monday) == \
        ("active_time_interval", ["weekends"])
    assert route_muted(["evenings"], ["weekends"], both, saturday_evening) == \
        ("mute_time_interval", ["evenings"])
    assert route_muted(["evenings"], [], both, working_hours_monday) is None
    assert route_muted([], [], both, saturday_evening) is None


def test_named_intervals_old_and_new_key_share_one_namespace() -> None:
    raw = {"mute_time_intervals": [{"name": "night", "time_intervals": [
               {"times": [{"start_time": "00:00", "end_time": "06:00"}]}]}],
           "time_intervals": [{"name": "weekend", "time_intervals": [
               {"weekdays": ["saturday", "sunday"]}]}]}
    assert set(parse_named_intervals(raw)) == {"night", "weekend"}
    raw["time_intervals"].append({"name": "night", "time_intervals": []})
    with pytest.raises(ValueError, match=r"time_intervals\[1\]\.name: time interval 'night' "
                                         "is not unique"):
        parse_named_intervals(raw)
    with pytest.raises(ValueError, match="missing name in time interval"):
        parse_named_intervals({"time_intervals": [{"time_intervals": []}]})


def _config(route: dict[str, object]) -> dict[str, object]:
    return {"route": {"receiver": "r", **route},
            "receivers": [{"name": "r"}],
            "time_intervals": [{"name": "night", "time_intervals": [
                {"times": [{"start_time": "00:00", "end_time": "06:00"}]}]}]}


def test_routes_reference_defined_intervals_not_at_the_root() -> None:
    config = parse_notify_config(_config({"routes": [
        {"matchers": ['site="A"'], "mute_time_intervals": ["night"],
         "routes": [{"matchers": ['type="atm"']}]}]}))
    assert config.route is not None
    child = config.route.routes[0]
    assert child.mute_time_intervals == ("night",)
    assert child.routes[0].mute_time_intervals == ()  # not inherited, as in Alertmanager
    with pytest.raises(ValueError, match=r"route\.routes\[0\]\.active_time_intervals\[0\]: "
                                         "undefined time interval 'day' used in route"):
        parse_notify_config(_config({"routes": [{"active_time_intervals": ["day"]}]}))
    with pytest.raises(ValueError, match=r"route\.mute_time_intervals: not allowed at the "
                                         "top-level route"):
        parse_notify_config(_config({"mute_time_intervals": ["night"]}))
    with pytest.raises(ValueError, match=r"time_intervals\[0\]\.time_intervals\[0\]\.weekday:"
                                         " unknown key"):
        parse_notify_config({**_config({}), "time_intervals": [
            {"name": "x", "time_intervals": [{"weekday": ["monday"]}]}]})


def test_unquoted_clock_times_read_as_written() -> None:
    """PyYAML reads ``10:00`` unquoted as 600 (YAML 1.1 base 60); Alertmanager keeps the
    text, so a config copied from it must mean the same here."""
    ti = parse_time_interval(yaml.safe_load("times: [{start_time: 10:00, end_time: 24:00}]"),
                             "t")
    assert ti.times == ((600, 1440),)
