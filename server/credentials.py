"""Broker accounts in a Mosquitto password file: the server's own, on the server listener (and, in a
single-listener setup, vehicles by VIN). The file holds password hashes: only its owner may read it."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from telemetry.errors import ConfigError, NotFoundError
from telemetry.vin import is_valid_vin


def _mosquitto_passwd(*args: str) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise ConfigError("mosquitto_passwd is not installed (Debian: apt-get install mosquitto)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"mosquitto_passwd failed: {result.stderr.strip() or result.stdout.strip()}")


def add_user(password_file: Path, user: str) -> str:
    """Create or replace `user` in the password file; returns the new password (shown once)."""
    password = secrets.token_urlsafe(24)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.touch(mode=0o600)  # mosquitto_passwd keeps the mode of the file it rewrites
    password_file.chmod(0o600)
    _mosquitto_passwd("-b", str(password_file), user, password)
    return password


def remove_user(password_file: Path, user: str) -> None:
    """Delete `user`; the broker disconnects it when it next reloads (SIGHUP re-checks every client)."""
    users = [line.split(":", 1)[0] for line in password_file.read_text().splitlines()] if password_file.exists() else []
    if user not in users:
        raise NotFoundError(f"{user} has no account in {password_file}")
    _mosquitto_passwd("-D", str(password_file), user)


def check_vin(vin: str) -> None:
    """A broker account's user name is its VIN (device ACLs are written for it)."""
    if not is_valid_vin(vin):
        raise ConfigError(f"{vin!r} is not a VIN: 17 characters of the VIN alphabet")


def add_vehicle(password_file: Path, vin: str) -> str:
    check_vin(vin)
    return add_user(password_file, vin)
