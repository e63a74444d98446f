"""Differential: one routing config with time intervals (relative to the current time, so
the real Alertmanager needs no fake clock) and the same alerts go to the real Alertmanager
0.25 and to wardops; the sites each one notifies are compared while some windows are
current, and again after one window ends with its alert still firing. wardops's API v2
shows the held-back groups as suppressed with ``mutedBy``.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import requests
import yaml
from flask import Flask

from alerter.amapi import create_blueprint
from alerter.model import Alert
from alerter.notify.formats.alertmanager import rfc3339
from tests.notify.conftest import PipelineFactory
from tests.notify.receiver import Receiver
from tests.support import wait_for

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS = [d.lower() for d in calendar.day_name]  # monday first, as datetime.weekday()


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def around(now: datetime, zone: ZoneInfo | None = None) -> dict[str, object]:
    """A ``times`` window holding ``now`` (read in ``zone``, UTC without one)."""
    local = now.astimezone(zone or UTC)
    minute = local.hour * 60 + local.minute
    window: dict[str, object] = {"times": [{"start_time": hhmm(max(0, minute - 1)),
                                            "end_time": hhmm(min(1440, minute + 10))}]}
    if zone is not None:
        window["location"] = str(zone)
    return window


def config(url: str, now: datetime, ending_at: int) -> str:
    tomorrow = WEEKDAYS[(now.weekday() + 1) % 7]
    doc = {
        "route": {"receiver": "all", "group_by": ["site"], "group_wait": "1s",
                  "group_interval": "2s", "repeat_interval": "1h", "routes": [
                      {"matchers": ['site="InWindow"'], "mute_time_intervals": ["now"]},
                      {"matchers": ['site="Tomorrow"'], "mute_time_intervals": ["tomorrow"]},
                      {"matchers": ['site="Active"'], "active_time_intervals": ["now"]},
                      {"matchers": ['site="Inactive"'],
                       "active_time_intervals": ["tomorrow", "last_year"]},
                      {"matchers": ['site="Tokyo"'], "mute_time_intervals": ["tokyo_now"]},
                      # the same clock times read in UTC: nine hours off, not current
                      {"matchers": ['site="TokyoTimesInUTC"'],
                       "mute_time_intervals": ["tokyo_times_in_utc"]},
                      {"matchers": ['site="LastDays"'], "mute_time_intervals": ["month_end"]},
                      {"matchers": ['site="Ending"'], "mute_time_intervals": ["until_soon"]},
                  ]},
        "receivers": [{"name": "all", "webhook_configs": [{"url": url}]}],
        # the deprecated top-level key, still read by both
        "mute_time_intervals": [{"name": "last_year", "time_intervals": [
            {"years": [str(now.year - 1)]}]}],
        "time_intervals": [
            {"name": "now", "time_intervals": [around(now)]},
            {"name": "tomorrow", "time_intervals": [{"weekdays": [tomorrow]}]},
            {"name": "tokyo_now", "time_intervals": [around(now, TOKYO)]},
            {"name": "tokyo_times_in_utc", "time_intervals": [
                {"times": around(now, TOKYO)["times"]}]},
            # the rest of the month, counted from its end (negative days)
            {"name": "month_end", "time_intervals": [
                {"days_of_month": [f"{now.day - calendar.monthrange(now.year, now.month)[1] - 1}"
                                   ":-1"],
                 "months": [calendar.month_name[now.month]]}]},
            {"name": "until_soon", "time_intervals": [
                {"times": [{"start_time": "00:00", "end_time": hhmm(ending_at)}]}]},
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


SITES = ["InWindow", "Tomorrow", "Active", "Inactive", "Tokyo", "TokyoTimesInUTC", "LastDays",
         "Ending"]
MUTED_NOW = {"InWindow": ["now"], "Inactive": ["tomorrow", "last_year"],
             "Tokyo": ["tokyo_now"], "LastDays": ["month_end"], "Ending": ["until_soon"]}


def sites(receiver: Receiver) -> list[str]:
    return sorted(a["labels"]["site"] for r in receiver.requests for a in r.json()["alerts"])


def test_time_intervals_mute_as_alertmanager_does(
        alertmanager: Callable[[str], str], receivers: Callable[[], Receiver],
        pipeline_factory: PipelineFactory) -> None:
    now = datetime.now(UTC)
    minute = now.hour * 60 + now.minute
    if minute >= 1437:  # the window below must end today; wait for the new day
        time.sleep(60 * (1440 - minute) - now.second + 1)
        now = datetime.now(UTC)
        minute = now.hour * 60 + now.minute
    # "until_soon" ends at a minute boundary at least 30 s away (room for Alertmanager to
    # start and for the first comparison on a loaded machine)
    ending_at = minute + (1 if now.second < 30 else 2)
    end_time = now.replace(second=0, microsecond=0) + timedelta(minutes=ending_at - minute)

    theirs, ours = receivers(), receivers()
    starts = time.time() - 60
    alerts = [Alert(labels={"alertname": "DeviceDown", "site": site, "device": f"{site}-R1"},
                    annotations={}, state="firing", starts_at=starts,
                    generator_url="http://prometheus.bank.test/graph") for site in SITES]
    base = alertmanager(config(theirs.url, now, ending_at))
    resp = requests.post(base + "/api/v2/alerts", timeout=5, json=[{
        "labels": a.labels, "startsAt": rfc3339(a.starts_at),
        "generatorURL": a.generator_url} for a in alerts])
    assert resp.status_code == 200, resp.text
    pipeline = pipeline_factory(yaml.safe_load(config(ours.url, now, ending_at)))
    pipeline.process(alerts)

    notified = sorted(set(SITES) - set(MUTED_NOW))
    wait_for(lambda: sites(theirs) == notified, timeout=20,
             what=f"Alertmanager notifies {notified}")
    wait_for(lambda: sites(ours) == notified, timeout=20,
             what=f"wardops notifies {notified}")
    time.sleep(3)  # more than a group_interval: the windows keep holding the rest back
    assert sites(theirs) == sites(ours) == notified

    # The API shows the held-back groups as muted, with the intervals' names.
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(
        alerts=lambda: alerts, pipeline=pipeline,
        config=lambda: SimpleNamespace(longest_interval=15.0)))
    groups = app.test_client().get("/api/v2/alerts/groups").get_json()
    status = {g["labels"]["site"]: g["alerts"][0]["status"] for g in groups}
    assert {site: s["mutedBy"] for site, s in status.items() if s["mutedBy"]} == MUTED_NOW
    assert all(s["state"] == ("suppressed" if site in MUTED_NOW else "active")
               for site, s in status.items())
    shown = app.test_client().get("/api/v2/alerts/groups?muted=false").get_json()
    assert sorted(g["labels"]["site"] for g in shown) == notified

    # "until_soon" ends with its alert still firing: both notify it then, once.
    assert datetime.now(UTC) < end_time, "the window ended before the first check"
    after = sorted([*notified, "Ending"])
    wait_for(lambda: sites(theirs) == after, timeout=90,
             what=f"Alertmanager notifies Ending after {end_time}")
    wait_for(lambda: sites(ours) == after, timeout=10,
             what=f"wardops notifies Ending after {end_time}")
    ending = [r.at for r in ours.requests if r.json()["groupLabels"]["site"] == "Ending"]
    assert ending[0] >= end_time.timestamp()
    time.sleep(3)
    assert sites(theirs) == sites(ours) == after
