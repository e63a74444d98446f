# One image for the exporter, the alerter and the demo webhook sink (docker-compose.yml
# picks the command). Debian-based like the machines wardops is tested on.
FROM python:3.11-slim-bookworm

WORKDIR /opt/wardops
COPY pyproject.toml README.md LICENSE ./
COPY wardops_common wardops_common
COPY exporter exporter
COPY alerter alerter
RUN pip install --no-cache-dir . \
 && mkdir -p /var/lib/wardops/exporter /var/lib/wardops/alerter
# promtool lets the alerter check rule expressions with Prometheus's own parser at load
# time (without it only a light syntax check runs); same version as the tested Debian one.
COPY --from=prom/prometheus:v2.42.0 /bin/promtool /usr/local/bin/promtool
COPY rules /etc/wardops/rules
COPY examples /opt/wardops/examples

ENV PYTHONUNBUFFERED=1
EXPOSE 9469 9470 9099
# The exporter needs raw ICMP sockets: compose gives it NET_RAW and drops everything else.
CMD ["wardops-exporter", "--config", "/etc/wardops/inventory/devices.yml", \
     "--web.listen-address", "0.0.0.0:9469", \
     "--state-file", "/var/lib/wardops/exporter/state.json"]
