"""A small client of Prometheus's HTTP query API that counts its load.

Requests go through wardops_common's :class:`ClientSession` (TLS, auth, proxy as the
alerter's Prometheus client has them); every query and every sample returned is counted,
so the benchmark can say what a report costs Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from wardops_common.httpclient import ClientSession, HTTPClientConfig


class ReportError(Exception):
    """A report that cannot be made truthfully: the message says why, for the operator."""


@dataclass(frozen=True)
class Series:
    """One series of a query's answer: its labels and ``(unix seconds, value)`` points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass
class PromAPI:
    """Queries one Prometheus; ``queries`` and ``samples`` count the load put on it."""

    url: str
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    timeout: float = 120.0
    queries: int = 0
    samples: int = 0
    session: ClientSession = field(default_factory=ClientSession)

    def query(self, expr: str, at: float) -> list[Series]:
        """An instant query at ``at``; a range-vector ``expr`` returns raw samples."""
        return self._post("/api/v1/query", {"query": expr, "time": _ts(at)})

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query evaluated at ``start``, ``start + step`` ... ``end``."""
        return self._post("/api/v1/query_range", {"query": expr, "start": _ts(start),
                                                  "end": _ts(end), "step": _ts(step)})

    def series(self, match: str, start: float, end: float) -> list[dict[str, str]]:
        """Label sets of the series matching ``match`` with samples in the period (read
        from the index, not the samples: cheap even for a month)."""
        body = self._call("/api/v1/series", {"match[]": match, "start": _ts(start),
                                             "end": _ts(end)}, match)
        found: list[dict[str, str]] = body
        return found

    def _post(self, path: str, form: dict[str, str]) -> list[Series]:
        data = self._call(path, form, form["query"])
        kind = data["resultType"]
        out: list[Series] = []
        for item in data["result"]:
            if kind == "matrix":
                points = [(float(t), float(v)) for t, v in item["values"]]
            else:
                t, v = item["value"]
                points = [(float(t), float(v))]
            self.samples += len(points)
            out.append(Series(item["metric"], points))
        return out

    def _call(self, path: str, form: dict[str, str], what: str) -> Any:
        self.queries += 1
        url = self.url.rstrip("/") + path
        try:
            resp = self.session.post_with(url, self.http, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ReportError(f"Prometheus at {self.url} did not answer: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            raise ReportError(f"Prometheus at {self.url} answered HTTP {resp.status_code} "
                              f"without JSON: {resp.text[:200]!r}") from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise ReportError(f"Prometheus at {self.url} refused the query "
                              f"{what!r}: HTTP {resp.status_code} "
                              f"{body.get('errorType', '')}: {body.get('error', '')}")
        return body["data"]

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


def _ts(seconds: float) -> str:
    # Milliseconds, as Prometheus stores them: no float noise in a window's edges.
    return f"{round(seconds * 1000) / 1000:.3f}"
