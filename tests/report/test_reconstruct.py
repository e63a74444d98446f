"""outages_of: raw up/down_since samples to outages, a table of the cases (period (100, 200],
scrapes every 10 s)."""

from __future__ import annotations

import pytest

from report.reconstruct import outages_of, unseen_outages

CASES = [
    # (what, up samples, down_since samples, expected outages)
    ("always up", [(t, 1) for t in range(90, 201, 10)], [], []),
    ("down before the period, all of it: one outage, no end",
     [(t, 0) for t in range(90, 201, 10)], [(t, 42) for t in range(90, 201, 10)], [(42, None)]),
    ("down at 133 (first down scrape 140), up from 170",
     [(t, 1 if t < 140 or t >= 170 else 0) for t in range(90, 201, 10)],
     [(t, 133) for t in range(140, 170, 10)], [(133, 170)]),
    ("went down inside a gap (no samples 130-160): down_since places it",
     [(120, 1), (170, 0), (180, 0), (190, 1), (200, 1)], [(170, 145), (180, 145)], [(145, 190)]),
    ("came back inside a gap: ends at the first scrape proving it up",
     [(110, 0), (120, 0), (170, 1)], [(110, 105), (120, 105)], [(105, 170)]),
    ("another down_since after a gap: two outages, the first closed at its last down scrape",
     [(110, 0), (120, 0), (170, 0), (180, 1)], [(110, 105), (120, 105), (170, 150)],
     [(105, 120), (150, 180)]),
    ("down at the end: still under way",
     [(t, 1 if t < 190 else 0) for t in range(90, 201, 10)], [(190, 185), (200, 185)],
     [(185, None)]),
    ("down only after the period: not in it", [(200, 1), (210, 0)], [(210, 205)], []),
    ("no down_since (older exporter): the first down scrape",
     [(150, 1), (160, 0), (170, 1)], [], [(160, 170)]),
]


@pytest.mark.parametrize("what,up,since,want", CASES, ids=[c[0] for c in CASES])
def test_outages_of(what: str, up: list[tuple[float, float]], since: list[tuple[float, float]],
                    want: list[tuple[float, float | None]]) -> None:
    assert outages_of(up, since, 100, 200) == want


UNSEEN = [
    # (what, up samples, down_since samples, counter samples, known before, expected)
    ("always up, counter still", [(t, 1) for t in range(90, 201, 10)], [],
     [(t, 4) for t in range(90, 201, 10)], True, []),
    ("down and up between 140 and 150", [(t, 1) for t in range(90, 201, 10)], [],
     [(t, 4 if t < 150 else 6) for t in range(90, 201, 10)], True, [(140, 150)]),
    ("a seen outage moves the counter too: nothing unseen",
     [(t, 1 if t < 140 or t >= 170 else 0) for t in range(90, 201, 10)],
     [(t, 133) for t in range(140, 170, 10)],
     [(t, 0 if t < 140 else 1 if t < 170 else 2) for t in range(90, 201, 10)], True, []),
    ("a blip, then down by the next scrape: one unseen, one seen",
     [(130, 1), (140, 0), (150, 0)], [(140, 137), (150, 137)], [(130, 0), (140, 3), (150, 3)],
     True, [(130, 140)]),
    ("a counter reset (exporter lost its state) is no change",
     [(130, 1), (140, 1)], [], [(130, 9), (140, 0)], True, []),
    ("before the period: not counted", [(90, 1), (100, 1), (110, 1)], [],
     [(90, 0), (100, 2), (110, 2)], True, []),
    ("a new device whose first scrape already counts a blip",
     [(150, 1), (160, 1)], [], [(150, 2), (160, 2)], False, [(150, 150)]),
    ("a new device first seen down: seen, not unseen",
     [(150, 0), (160, 1)], [(150, 145)], [(150, 1), (160, 2)], False, []),
]


@pytest.mark.parametrize("what,up,since,changes,known,want", UNSEEN, ids=[c[0] for c in UNSEEN])
def test_unseen_outages(what: str, up: list[tuple[float, float]],
                        since: list[tuple[float, float]], changes: list[tuple[float, float]],
                        known: bool, want: list[tuple[float, float]]) -> None:
    assert unseen_outages(up, since, changes, 100, 200, known) == want
