"""wardops-report: the monthly availability report, read from Prometheus's HTTP API.

One-way flow: ``promapi`` (queries, counted) -> ``reconstruct`` (pure: raw samples to
outages and figures) -> ``render`` (CSV, JSON, one self-contained HTML page). ``cli`` wires
them; docs/report.md says how each figure is computed.
"""
