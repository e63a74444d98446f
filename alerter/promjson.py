"""Alerts in the JSON shapes of Prometheus's HTTP API (``/api/v1/alerts``,
``/api/v1/rules``), exactly as Prometheus writes them, for both of the alerter's
listings."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from alerter.model import Alert
from alerter.notify.formats.alertmanager import rfc3339


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as Prometheus's ``/api/v1/alerts`` and ``/api/v1/rules`` show it:
    ``activeAt`` when it went pending, ``value`` in Go's exponent form,
    ``keepFiringSince`` only while ``keep_firing_for`` holds it, labels without the
    external labels (Prometheus adds those only when sending)."""
    labels = ({k: v for k, v in alert.labels.items() if k not in alert.external}
              if alert.external else alert.labels)
    out: dict[str, Any] = {
        "labels": labels, "annotations": alert.annotations, "state": alert.state,
        "activeAt": rfc3339(alert.active_at if alert.active_at is not None
                            else alert.starts_at),
        "value": format_value(alert.value)}
    if alert.keep_firing_since is not None:
        out["keepFiringSince"] = rfc3339(alert.keep_firing_since)
    return out


def format_value(value: float) -> str:
    """A sample value as Prometheus's alert listing shows it: Go's
    ``strconv.FormatFloat(v, 'e', -1, 64)`` (the shortest digits that read back as the
    same float, in exponent form: ``1.234567891e+06``, ``1e+00``, ``NaN``, ``+Inf``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0e+00"
    digits = Decimal(repr(abs(value))).normalize()
    mantissa = "".join(str(d) for d in digits.as_tuple().digits)
    exponent = digits.adjusted()
    head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
