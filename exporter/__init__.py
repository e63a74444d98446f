"""wardops exporter: probes network devices on its own schedule and serves /metrics."""

__version__ = "0.1.0"
