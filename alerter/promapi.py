"""Instant PromQL queries against the Prometheus HTTP API (also VictoriaMetrics, Thanos, Mimir).

All failures become one exception, ``QueryError``, whose ``reason`` says what went wrong,
so callers classify without knowing about ``requests``:

- ``unreachable``   connection refused, DNS failure, reset
- ``timeout``       no answer within ``prometheus.timeout``
- ``server_error``  HTTP 5xx (or 429) from the server
- ``bad_query``     the server rejected the expression (HTTP 400/422, ``bad_data``, ``execution``)
- ``bad_response``  anything else: not JSON, wrong shape, other HTTP status
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from alerter.config import DataSource
from wardops_common.httpclient import ClientSession

DATASOURCE_FAILURES = ("unreachable", "timeout", "server_error", "bad_response")


class QueryError(Exception):
    """A query that produced no usable result; ``reason`` is one of the module's reasons."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (``__name__`` removed, as alert rules drop it,
    unless asked to keep it)."""

    labels: dict[str, str]
    value: float


class PromAPI:
    """A small client for ``/api/v1/query`` sharing one HTTP session."""

    def __init__(self, source: DataSource) -> None:
        self.source = source
        self.endpoint = source.url + "/api/v1/query"
        self.session = ClientSession()
        self.session.headers.update({"User-Agent": "wardops-alerter", **source.headers})

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def query(self, expr: str, at: float, *, keep_name: bool = False) -> list[Sample]:
        """Evaluate ``expr`` at Unix time ``at``; raise ``QueryError`` on any failure.
        ``keep_name``: keep ``__name__`` (templates see it in ``$labels`` and query
        results, as in Prometheus)."""
        resp = self._post(expr, at)
        return parse_response(resp.status_code, resp.content, self.source.url, keep_name)

    def _post(self, expr: str, at: float) -> requests.Response:
        try:
            resp = self.session.post_with(self.endpoint, self.source.http,
                                          data={"query": expr, "time": f"{at:.3f}"},
                                          timeout=self.source.timeout)
        except requests.Timeout as exc:
            raise QueryError("timeout", f"{self.source.url}: no answer within "
                             f"{self.source.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise QueryError("unreachable", f"{self.source.url}: {_root_cause(exc)}") from exc
        except requests.RequestException as exc:
            raise QueryError("bad_response", f"{self.source.url}: {exc}") from exc
        return resp

    def query_series(self, expr: str, at: float) -> list[Series]:
        """Evaluate the range-vector ``expr`` at ``at``; raise ``QueryError`` on any failure."""
        resp = self._post(expr, at)
        return parse_matrix(resp.status_code, resp.content, self.source.url)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split("] ", 1)[-1] if "] " in text else text


@dataclass(frozen=True)
class Series:
    """One element of a range vector: labels and (timestamp, value) points, oldest first."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def _result(status: int, body: bytes, where: str) -> tuple[Any, Any]:
    """(resultType, result) of an HTTP answer of ``/api/v1/query``, or ``QueryError``."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        doc = None
    error = doc.get("error") if isinstance(doc, dict) else None
    if status >= 500 or status == 429:
        raise QueryError("server_error", f"{where}: HTTP {status}: {error or body[:200]!r}")
    if status in (400, 422) and isinstance(doc, dict) and doc.get("status") == "error":
        raise QueryError("bad_query", f"{where}: {doc.get('errorType', 'error')}: {error}")
    if status != 200 or not isinstance(doc, dict):
        raise QueryError("bad_response", f"{where}: HTTP {status}: not a Prometheus API answer")
    if doc.get("status") != "success":
        raise QueryError("bad_query", f"{where}: {doc.get('errorType', 'error')}: {error}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise QueryError("bad_response", f"{where}: answer without data")
    kind, result = data.get("resultType"), data.get("result")
    if not isinstance(result, list):
        raise QueryError("bad_response", f"{where}: {kind} answer without a result list")
    return kind, result


def parse_matrix(status: int, body: bytes, where: str) -> list[Series]:
    """Turn an answer to a range-vector query (``name{...}[2m]``) into series (pure)."""
    kind, result = _result(status, body, where)
    if kind != "matrix":
        raise QueryError("bad_query", f"{where}: result type {kind!r}, expected a range vector")
    try:
        return [Series(dict(item["metric"]),
                       [(float(ts), float(value)) for ts, value in item["values"]])
                for item in result]
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise QueryError("bad_response", f"{where}: malformed matrix result: {exc!r}") from None


def parse_response(status: int, body: bytes, where: str,
                   keep_name: bool = False) -> list[Sample]:
    """Turn an HTTP answer of ``/api/v1/query`` into samples (pure; table-tested)."""
    kind, result = _result(status, body, where)
    try:
        if kind == "vector":
            samples = []
            for item in result:
                labels = item["metric"]
                if not keep_name:
                    labels.pop("__name__", None)
                samples.append(Sample(labels, float(item["value"][1])))
            return samples
        if kind == "scalar":
            return [Sample({}, float(result[1]))]
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
        raise QueryError("bad_response", f"{where}: malformed {kind} result: {exc!r}") from None
    raise QueryError("bad_query", f"{where}: result type {kind!r}: an alert expression must "
                     "return an instant vector or a scalar")
