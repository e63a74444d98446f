"""Logging in logfmt or JSON, the two formats log pipelines around Prometheus expect."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            fields[key] = value
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=exporter msg="..." device=x``; extras from ``extra={}``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record).items():
            text = str(value)
            if not text or any(c in text for c in ' ="\n\t'):
                text = json.dumps(text)
            parts.append(f"{key}={text}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


#: Prometheus's tools accept "warn"; "warning" is Python's name for the same level
LOG_LEVELS = ("debug", "info", "warn", "warning", "error")


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """``--log.level`` and ``--log.format``, the same in every wardops program."""
    parser.add_argument("--log.level", dest="log_level", default="info", choices=LOG_LEVELS)
    parser.add_argument("--log.format", dest="log_format", default="logfmt",
                        choices=["logfmt", "json"])


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    """Configure the root logger for a wardops process (stderr)."""
    if fmt not in ("logfmt", "json"):
        raise ValueError(f"unknown log format {fmt!r} (logfmt or json)")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("WARNING" if level.lower() == "warn" else level.upper())
