"""Routing: which routes (and so receivers) an alert goes to, and its group within each."""

from __future__ import annotations

from collections.abc import Mapping

from alerter.gotmpl.values import go_quote
from alerter.notify.config import Route
from alerter.notify.matchers import matches_all


def match_routes(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes that take ``labels``: Alertmanager's depth-first walk.

    A route whose matchers accept the labels hands them to its children in order; the
    first matching child stops the walk unless it has ``continue: true``. When no child
    matches, the route itself takes the alert.
    """
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        hits = match_routes(child, labels)
        found.extend(hits)
        if hits and not child.continue_:
            break
    return found or [route]


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that pick an alert's group in ``route`` (all of them with ``group_by: [...]``)."""
    if route.group_by_all:
        return dict(labels)
    return {name: labels[name] for name in route.group_by if name in labels}


def am_group_key(route: Route, grouping: Mapping[str, str]) -> str:
    """The ``groupKey`` Alertmanager sends: ``<route Key()>:<label set>``, the label set
    as Go prints a ``model.LabelSet`` (sorted, ``", "``-separated, values quoted as Go's
    ``%q``). Two sibling routes with the same matchers share it, as in Alertmanager."""
    inner = ", ".join(f"{k}={go_quote(grouping[k])}" for k in sorted(grouping))
    return f"{route.am_key}:{{{inner}}}"


def group_key(route: Route, grouping: Mapping[str, str]) -> str:
    """A group's identity inside wardops: ``<route ID>:{label="value",...}`` (unique in
    the tree, unlike :func:`am_group_key`; stored with the group's notifications)."""
    inner = ",".join(f'{k}="{_escape(grouping[k])}"' for k in sorted(grouping))
    return f"{route.key}:{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def walk(route: Route) -> list[Route]:
    """Every route of the tree, parents before children."""
    result = [route]
    for child in route.routes:
        result.extend(walk(child))
    return result
