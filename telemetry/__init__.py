"""Shared core of the telemetry server: settings, signal catalog, codecs and storage."""

__version__ = "0.1.0"
