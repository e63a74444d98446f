"""Small pieces shared by the exporter and the alerter (durations, logging, atomic files)."""
