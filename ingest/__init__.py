"""Ingest: MQTT telemetry into PostgreSQL, validated, each sample stored once."""
