"""Broker accounts in a Mosquitto password file: one per vehicle (user name = VIN), one for the server."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from telemetry.errors import ConfigError
from telemetry.vin import is_valid_vin


def add_user(password_file: Path, user: str) -> str:
    """Create or replace `user` in the password file; returns the new password (shown once)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise ConfigError("mosquitto_passwd is not installed (Debian: apt-get install mosquitto)")
    password = secrets.token_urlsafe(24)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    create = [] if password_file.exists() else ["-c"]
    result = subprocess.run(
        [tool, *create, "-b", str(password_file), user, password], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {result.stderr.strip() or result.stdout.strip()}")
    return password


def add_vehicle(password_file: Path, vin: str) -> str:
    if not is_valid_vin(vin):
        raise ConfigError(f"{vin!r} is not a VIN: 17 characters of the VIN alphabet")
    return add_user(password_file, vin)
