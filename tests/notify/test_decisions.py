"""The pure decision functions, table-tested with an injected clock: matchers, routing,
timers, dedup, inhibition, retry classification and backoff."""

from __future__ import annotations

import pytest

from alerter.model import Alert, fingerprint
from alerter.notify.config import InhibitRule, parse_notify_config
from alerter.notify.dedup import LogEntry, Reason, logged_entry, needs_update
from alerter.notify.dispatch import next_flush_at
from alerter.notify.inhibit import Inhibitor
from alerter.notify.matchers import parse_matchers
from alerter.notify.retry import (
    Action,
    Outcome,
    TransportError,
    backoff,
    classify,
    next_step,
    parse_retry_after,
)
from alerter.notify.route import group_key, group_labels, match_routes

LABELS = {"alertname": "DeviceDown", "site": "Kharagauli", "severity": "critical",
          "device": "Kharagauli-ATM", "type": "atm"}


def test_fingerprint_matches_alertmanager() -> None:
    # The empty set hashes to the FNV-1a offset basis; real label sets are checked against
    # a running Alertmanager in test_alertmanager_compat.py.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"a": "b"}) == fingerprint({"a": "b"})
    assert fingerprint({"a": "b", "c": "d"}) == fingerprint({"c": "d", "a": "b"})
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})


@pytest.mark.parametrize("text, matches", [
    ('severity="critical"', True),
    ('severity!="critical"', False),
    ('site=~"Khara.*"', True),
    ('site=~"Khara"', False),            # anchored: a prefix is not a match
    ('site!~"Tbilisi|Batumi"', True),
    ('{alertname="DeviceDown", type=~"atm|kiosk"}', True),
    ('alertname=DeviceDown, type="router"', False),  # unquoted value, as Alertmanager accepts
    ('missing=""', True),                # a missing label reads as ""
    ('missing=~".+"', False),
    ('device="Kharagauli-ATM"', True),
])
def test_matchers(text: str, matches: bool) -> None:
    assert all(m.matches(LABELS) for m in parse_matchers(text)) is matches


@pytest.mark.parametrize("text, error", [
    ('site', "expected one of =, !=, =~, !~ at position 4 in 'site'"),
    ('site="x', "unterminated quoted value at position 7 in 'site=\"x'"),
    ('{site="x"', "missing closing } at position 9 in '{site=\"x\"'"),
    ('1site="x"', "expected a label name at position 0 in '1site=\"x\"'"),
    ('', "no matcher in ''"),
])
def test_bad_matchers(text: str, error: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_matchers(text)
    assert str(err.value) == error


def test_matcher_roundtrips_through_its_string_form() -> None:
    m = parse_matchers('summary="say \\"hi\\"\\n"')[0]
    assert m.value == 'say "hi"\n'
    assert parse_matchers(str(m)) == [m]


ROUTES = parse_notify_config({
    "route": {"receiver": "chat", "group_by": ["alertname", "site"], "routes": [
        {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True},
        {"matchers": ['type="atm"'], "receiver": "atm-team", "group_by": ["..."]},
        {"matchers": ['type=~"atm|kiosk"'], "receiver": "never"},  # shadowed by the one above
    ]},
    "receivers": [{"name": n} for n in ("chat", "oncall", "atm-team", "never")],
}).route
assert ROUTES is not None


@pytest.mark.parametrize("labels, receivers", [
    # continue: true lets the critical ATM alert reach the ATM team too
    (LABELS, ["oncall", "atm-team"]),
    ({**LABELS, "severity": "warning"}, ["atm-team"]),
    ({**LABELS, "type": "kiosk"}, ["oncall", "never"]),
    ({**LABELS, "type": "router", "severity": "warning"}, ["chat"]),  # falls back to the root
])
def test_routing(labels: dict[str, str], receivers: list[str]) -> None:
    assert [r.receiver for r in match_routes(ROUTES, labels)] == receivers


def test_group_keys_follow_group_by() -> None:
    oncall, atm = match_routes(ROUTES, LABELS)
    assert group_labels(oncall, LABELS) == {"alertname": "DeviceDown", "site": "Kharagauli"}
    assert group_key(oncall, group_labels(oncall, LABELS)) == \
        '{}/{severity="critical"}/0:{alertname="DeviceDown",site="Kharagauli"}'
    assert group_labels(atm, LABELS) == LABELS  # group_by: ['...']


@pytest.mark.parametrize("created, earliest, last, expected", [
    (100.0, 100.0, None, 130.0),    # first flush: group_wait after creation
    (100.0, 50.0, None, 100.0),     # alert older than group_wait (e.g. after restart): at once
    (100.0, 90.0, None, 120.0),     # partly waited already
    (100.0, 100.0, 130.0, 430.0),   # later: every group_interval
])
def test_group_timers(created: float, earliest: float, last: float | None,
                      expected: float) -> None:
    assert next_flush_at(created, earliest, last, group_wait=30.0, group_interval=300.0) == expected


F = frozenset
NOW = 10_000.0


@pytest.mark.parametrize("entry, firing, resolved, send_resolved, expected", [
    # nothing sent yet
    (None, F({"a"}), F(), True, Reason.SEND_NEW),
    (None, F(), F({"a"}), True, Reason.SKIP_NOTHING),   # fired and resolved before first flush
    # a new alert joins the group
    (LogEntry(F({"a"}), F(), NOW - 10), F({"a", "b"}), F(), True, Reason.SEND_FIRING_CHANGED),
    # one of two resolved: only with send_resolved
    (LogEntry(F({"a", "b"}), F(), NOW - 10), F({"a"}), F({"b"}), True, Reason.SEND_RESOLVED),
    (LogEntry(F({"a", "b"}), F(), NOW - 10), F({"a"}), F({"b"}), False, Reason.SKIP_UNCHANGED),
    # that resolve was already told
    (LogEntry(F({"a"}), F({"b"}), NOW - 10), F({"a"}), F({"b"}), True, Reason.SKIP_UNCHANGED),
    # everything resolved
    (LogEntry(F({"a"}), F(), NOW - 10), F(), F({"a"}), True, Reason.SEND_ALL_RESOLVED),
    (LogEntry(F(), F({"a"}), NOW - 10), F(), F({"a"}), True, Reason.SKIP_NOTHING),
    # unchanged: repeat only after repeat_interval (3600 s here)
    (LogEntry(F({"a"}), F(), NOW - 3599), F({"a"}), F(), True, Reason.SKIP_UNCHANGED),
    (LogEntry(F({"a"}), F(), NOW - 3600), F({"a"}), F(), True, Reason.SEND_REPEAT),
    # an alert left the firing set because it was silenced: no new message
    (LogEntry(F({"a", "b"}), F(), NOW - 10), F({"a"}), F(), True, Reason.SKIP_UNCHANGED),
])
def test_dedup(entry: LogEntry | None, firing: frozenset[str], resolved: frozenset[str],
               send_resolved: bool, expected: Reason) -> None:
    assert needs_update(entry, firing, resolved, send_resolved, 3600.0, NOW) is expected


@pytest.mark.parametrize("entry, firing, resolved, muted, expected", [
    # the only notified alert is silenced: nothing to say (not "all resolved")
    (LogEntry(F({"a"}), F(), NOW - 27), F(), F(), F({"a"}), Reason.SKIP_MUTED),
    # one notified alert muted, another resolved: the resolve is still news
    (LogEntry(F({"a", "b"}), F(), NOW - 27), F(), F({"b"}), F({"a"}), Reason.SEND_RESOLVED),
    # muted before it was ever notified: nothing sent yet, nothing to say
    (None, F(), F(), F({"a"}), Reason.SKIP_NOTHING),
    (LogEntry(F({"a"}), F(), NOW - 27), F({"a"}), F(), F({"b"}), Reason.SKIP_UNCHANGED),
])
def test_dedup_while_muted(entry: LogEntry | None, firing: frozenset[str],
                           resolved: frozenset[str], muted: frozenset[str],
                           expected: Reason) -> None:
    assert needs_update(entry, firing, resolved, True, 3600.0, NOW, muted=muted) is expected


def test_silence_that_ends_does_not_renotify_unchanged_group() -> None:
    """The QA sequence: notified at t0, silenced at t0+27 (flush), expired at t0+39."""
    t0 = NOW
    entry = LogEntry(F({"a"}), F(), t0)
    # While silenced the decision is a skip, so the log keeps what the receiver was told.
    assert needs_update(entry, F(), F(), True, 3600.0, t0 + 27, muted=F({"a"})) is Reason.SKIP_MUTED
    # Silence gone, same alert firing: unchanged until repeat_interval.
    assert needs_update(entry, F({"a"}), F(), True, 3600.0, t0 + 39) is Reason.SKIP_UNCHANGED
    assert needs_update(entry, F({"a"}), F(), True, 3600.0, t0 + 3600) is Reason.SEND_REPEAT


@pytest.mark.parametrize("entry, firing, resolved, muted, logged_firing", [
    (None, F({"a"}), F(), F({"b"}), F({"a"})),                       # b never told: not logged
    (LogEntry(F({"a", "b"}), F(), NOW - 10), F({"a"}), F(), F({"b"}), F({"a", "b"})),
    (LogEntry(F({"a", "b"}), F(), NOW - 10), F(), F({"a"}), F({"b"}), F({"b"})),
])
def test_logged_entry_keeps_muted_alerts_the_receiver_knows(
        entry: LogEntry | None, firing: frozenset[str], resolved: frozenset[str],
        muted: frozenset[str], logged_firing: frozenset[str]) -> None:
    logged = logged_entry(entry, firing, resolved, muted, NOW)
    assert logged == LogEntry(logged_firing, resolved, NOW)


@pytest.mark.parametrize("firing, acked, expected", [
    (F({"a"}), F({"a"}), Reason.SKIP_ACKED),          # all acked: no repeat
    (F({"a", "b"}), F({"a"}), Reason.SEND_REPEAT),    # b still needs attention
    (F({"a", "c"}), F({"a", "c"}), Reason.SEND_FIRING_CHANGED),  # c is new: acks don't hide news
])
def test_dedup_acks_hold_back_only_repeats(firing: frozenset[str], acked: frozenset[str],
                                           expected: Reason) -> None:
    entry = LogEntry(F({"a", "b"}), F(), NOW - 7200)
    assert needs_update(entry, firing, F(), True, 3600.0, NOW, acked) is expected


def alert(state: str = "firing", **labels: str) -> Alert:
    return Alert(labels=labels, annotations={}, state=state, starts_at=NOW)


def test_inhibition_needs_equal_labels_and_another_alert() -> None:
    rule = InhibitRule(tuple(parse_matchers('alertname="SiteDown"')),
                       tuple(parse_matchers('alertname=~"DeviceDown|SiteDown"')), ("site",))
    inhibitor = Inhibitor([rule])
    site_down = alert(alertname="SiteDown", site="A")
    dev_a = alert(alertname="DeviceDown", site="A", device="a1")
    dev_b = alert(alertname="DeviceDown", site="B", device="b1")
    inhibitor.update([site_down, dev_a, dev_b])
    assert inhibitor.inhibited_by(dev_a) == [site_down.fingerprint]
    assert inhibitor.inhibited_by(dev_b) == []          # other site
    assert inhibitor.inhibited_by(site_down) == []      # does not inhibit itself
    inhibitor.update([dev_a, dev_b])                    # SiteDown resolved
    assert inhibitor.inhibited_by(dev_a) == []


@pytest.mark.parametrize("status, error, retry_after, expected", [
    (200, None, None, Outcome(True, False, "ok")),
    (204, None, None, Outcome(True, False, "ok")),
    (500, None, None, Outcome(False, True, "http_5xx")),
    (503, None, "7", Outcome(False, True, "http_5xx", 7.0)),
    (429, None, "30", Outcome(False, True, "http_429", 30.0)),
    (429, None, None, Outcome(False, True, "http_429")),
    (408, None, None, Outcome(False, True, "http_408")),
    (400, None, None, Outcome(False, False, "http_4xx")),
    (401, None, None, Outcome(False, False, "http_4xx")),
    (404, None, None, Outcome(False, False, "http_4xx")),
    (302, None, None, Outcome(False, False, "http_3xx")),   # redirects are not followed
    (None, TransportError.TIMEOUT, None, Outcome(False, True, "timeout")),
    (None, TransportError.REFUSED, None, Outcome(False, True, "connection_refused")),
    (None, TransportError.CONNECTION, None, Outcome(False, True, "connection_error")),
    (None, TransportError.INVALID, None, Outcome(False, False, "invalid_request")),
])
def test_classify(status: int | None, error: TransportError | None, retry_after: str | None,
                  expected: Outcome) -> None:
    assert classify(status, error, retry_after, now=NOW) == expected


def test_retry_after_as_http_date() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 02:47:00 GMT", now=NOW) == 20.0
    assert parse_retry_after("garbage", now=NOW) is None


@pytest.mark.parametrize("attempts, rand, expected", [
    (1, 0.0, 0.25), (1, 0.999999, 0.5), (2, 0.0, 0.5), (4, 0.0, 2.0),
    (30, 0.0, 150.0),  # capped at MAX_BACKOFF (300 s), halved by the jitter floor
])
def test_backoff(attempts: int, rand: float, expected: float) -> None:
    assert backoff(attempts, rand) == pytest.approx(expected, rel=1e-5)


RETRY = Outcome(False, True, "http_5xx")


@pytest.mark.parametrize("outcome, attempts, age, max_attempts, max_age, action, delay", [
    (Outcome(True, False, "ok"), 1, 0.0, 0, 3600.0, Action.DONE, 0.0),
    (RETRY, 1, 0.0, 0, 3600.0, Action.RETRY, 0.25),
    (RETRY, 3, 0.0, 3, 3600.0, Action.GIVE_UP, 0.0),            # max_attempts reached
    (RETRY, 5, 3599.0, 0, 3600.0, Action.GIVE_UP, 0.0),         # would pass max_age
    (Outcome(False, False, "http_4xx"), 1, 0.0, 0, 3600.0, Action.GIVE_UP, 0.0),
    (Outcome(False, True, "http_429", 30.0), 1, 0.0, 0, 3600.0, Action.RETRY, 30.0),  # Retry-After wins
])
def test_next_step(outcome: Outcome, attempts: int, age: float, max_attempts: int,
                   max_age: float, action: Action, delay: float) -> None:
    step = next_step(outcome, attempts, age, max_attempts, max_age, rand=0.0)
    assert step.action is action
    assert step.delay == pytest.approx(delay)
