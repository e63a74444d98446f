"""The ``alertmanager_configs`` integration: alerts forwarded to Alertmanager the way
Prometheus sends them (``config``: its settings; ``forward``: the workers)."""
