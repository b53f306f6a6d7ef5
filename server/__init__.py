"""The processes: the `telemetry` command, the supervisor of `serve`, the demo, local services and
broker accounts."""
