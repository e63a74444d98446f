"""wardops alerter: evaluates Prometheus-format rules and delivers notifications."""

__version__ = "0.1.0"
