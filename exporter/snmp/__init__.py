"""SNMP polling (uptime, interfaces, ISP uplinks). See ``settings`` and ``poller``."""
