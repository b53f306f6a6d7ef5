"""The vehicle agent: reads a car over OBD-II and CAN, buffers on disk, uploads over MQTT, applies signed commands."""
