"""Simulated vehicles that publish telemetry over MQTT, with faults whose truth we know."""
