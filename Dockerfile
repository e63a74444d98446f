# One image for the exporter, the alerter and the demo webhook sink (docker-compose.yml
# picks the command). Debian-based like the machines wardops is tested on.
#
# promtool lets the alerter check rule expressions with Prometheus's own parser at load
# time (without it only a light syntax check runs). It comes from the same Prometheus
# release that docker-compose.yml runs, so a rule the alerter accepts is one that
# Prometheus accepts (a test keeps the two versions equal).
ARG PROMETHEUS_VERSION=v2.53.2
FROM prom/prometheus:${PROMETHEUS_VERSION} AS prometheus

FROM python:3.11-slim-bookworm

WORKDIR /opt/wardops
COPY pyproject.toml README.md LICENSE ./
COPY wardops_common wardops_common
COPY exporter exporter
COPY alerter alerter
COPY report report
# wardops_data's links point at these: the wheel ships the rules, dashboards and examples
COPY wardops_data wardops_data
COPY rules rules
COPY grafana grafana
COPY examples examples
COPY docs docs
COPY prometheus.yml prometheus.yml
# The programs run as an unprivileged user that owns only its state directories; the
# code and the rules stay root-owned and read-only to it (compose also mounts the root
# filesystem read-only). /certs: where compose's `certs` service writes the example
# certificates (a new named volume takes this ownership).
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/wardops --no-create-home wardops \
 && mkdir -p /var/lib/wardops/exporter /var/lib/wardops/alerter /certs \
 && chown -R wardops:wardops /var/lib/wardops /certs
COPY --from=prometheus /bin/promtool /usr/local/bin/promtool
COPY rules /etc/wardops/rules
COPY examples /opt/wardops/examples

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER wardops:wardops
EXPOSE 9469 9470 9099
# As a non-root user the exporter probes with unprivileged datagram ICMP sockets: compose
# sets the container's net.ipv4.ping_group_range and gives it no capability at all.
CMD ["wardops-exporter", "--config", "/etc/wardops/inventory/devices.yml", \
     "--web.listen-address", "0.0.0.0:9469", \
     "--state-file", "/var/lib/wardops/exporter/state.json"]
