"""``wardops-report``: the availability report for a month (or any period) from
Prometheus, written as CSV, JSON and one self-contained HTML page. docs/report.md."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from report.collect import Scope, collect
from report.promapi import PromAPI, ReportError
from report.render import write_report
from wardops_common.durations import parse_duration
from wardops_common.httpclient import HTTP_KEYS, HTTPClientConfig, read_http_config
from wardops_common.readers import read_mapping
from wardops_common.yamlfile import read_yaml


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wardops-report",
        description="Availability report (per device, site, region; outages, MTTR, MTBF) "
                    "from Prometheus, as CSV, JSON and one HTML page.")
    p.add_argument("--prometheus", required=True, metavar="URL",
                   help="Prometheus's base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--http-config", type=Path, metavar="FILE",
                   help="YAML with basic_auth/authorization/tls_config/proxy_url for it")
    period = p.add_mutually_exclusive_group(required=True)
    period.add_argument("--month", metavar="YYYY-MM",
                        help="a calendar month in --timezone")
    period.add_argument("--from", dest="start", metavar="RFC3339",
                        help="period start (with --to), e.g. 2026-11-01T00:00:00+04:00")
    p.add_argument("--to", dest="end", metavar="RFC3339",
                   help="period end, or 'now' (to the whole second)")
    p.add_argument("--timezone", default="UTC",
                   help="IANA time zone for the month and the times shown (default UTC)")
    p.add_argument("--region", help="only devices of this region")
    p.add_argument("--site", help="only devices of this site")
    p.add_argument("--scrape-interval", default="15s",
                   help="Prometheus's scrape interval of the exporter (default 15s)")
    p.add_argument("--output", type=Path, required=True, metavar="DIR",
                   help="directory for devices.csv, sites.csv, regions.csv, outages.csv, "
                        "report.json and report.html")
    p.add_argument("--allow-gaps", action="store_true",
                   help="write the report even if Prometheus has gaps in the period "
                        "(they count as unknown, never as up)")
    p.add_argument("--title", default="Availability report", help="the page's title")
    return p


def period_of(month: str | None, start: str | None, end: str | None, tz: ZoneInfo
              ) -> tuple[float, float]:
    """``(start, end)`` Unix seconds of ``--month`` in ``tz`` or of ``--from``/``--to``."""
    if month is not None:
        try:
            first = datetime.strptime(month, "%Y-%m").replace(tzinfo=tz)
        except ValueError:
            raise ReportError(f"--month {month!r}: give YYYY-MM, e.g. 2026-11") from None
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first.timestamp(), following.timestamp()
    if start is None or end is None:
        raise ReportError("give --month, or both --from and --to")
    times: list[float] = []
    for flag, text in (("--from", start), ("--to", end)):
        if text == "now":
            times.append(float(int(time.time())))
            continue
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ReportError(f"{flag} {text!r}: give an RFC 3339 time, "
                              f"e.g. 2026-11-01T00:00:00Z") from None
        if moment.tzinfo is None:
            raise ReportError(f"{flag} {text!r}: give the UTC offset (Z or +04:00)")
        times.append(moment.timestamp())
    if times[1] <= times[0]:
        raise ReportError("--to must be after --from")
    return times[0], times[1]


def _http_config(path: Path | None) -> HTTPClientConfig:
    if path is None:
        return HTTPClientConfig()
    raw = read_mapping(read_yaml(path), str(path), HTTP_KEYS)
    return read_http_config(raw, str(path), path.parent)


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 written, 2 refused (the reason on stderr)."""
    args = _parser().parse_args(argv)
    began = time.monotonic()

    def progress(message: str) -> None:
        print(f"wardops-report: {message} ({time.monotonic() - began:.1f}s)",
              file=sys.stderr, flush=True)

    try:
        try:
            tz = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ReportError(f"--timezone {args.timezone!r}: not an IANA time zone "
                              f"(e.g. UTC, Asia/Tbilisi)") from None
        start, end = period_of(args.month, args.start, args.end, tz)
        if end > time.time() + 60:
            raise ReportError("the period ends in the future: report on a finished period")
        interval = parse_duration(args.scrape_interval)
        api = PromAPI(args.prometheus, http=_http_config(args.http_config))
        scope = Scope(start=start, end=end, interval=interval, region=args.region,
                      site=args.site)
        try:
            data = collect(api, scope, progress)
        finally:
            api.close()
        if data.missing_head > 0 and not args.allow_gaps:
            raise ReportError(
                f"Prometheus has no scrapes of the exporter for the first "
                f"{data.missing_head / 3600:.1f} h of the period: its retention "
                f"(--storage.tsdb.retention.time) is shorter than the period, or it was "
                f"not running; --allow-gaps reports it anyway, as unknown")
        if data.unscraped_share > 0 and not args.allow_gaps:
            raise ReportError(
                f"Prometheus did not scrape the exporter for {data.unscraped_share:.1%} "
                f"of the period (gaps in its data); --allow-gaps reports it anyway, that "
                f"time counted as unknown, never as up")
        month = (datetime.fromtimestamp(start, tz).strftime("%B %Y") if args.month
                 else None)
        written = write_report(args.output, data, scope, tz, args.title, args.prometheus,
                               month)
    except (ReportError, ValueError, OSError) as exc:
        print(f"wardops-report: error: {exc}", file=sys.stderr)
        return 2
    progress(f"{api.queries} queries, {api.samples} samples; wrote "
             + ", ".join(p.name for p in written) + f" to {args.output}")
    return 0
