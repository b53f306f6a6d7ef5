"""`telemetry vehicles|broker|keys`: who may talk to the broker and the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from server.broker_accounts import DeviceAccounts, init_device_store
from server.credentials import add_user, add_vehicle, remove_user
from telemetry.errors import ConfigError
from telemetry.settings import Settings

vehicles_app = typer.Typer(help="Vehicles.", no_args_is_help=True)
broker_app = typer.Typer(help="The MQTT broker.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


PasswordFile = Annotated[Path, typer.Option(help="Mosquitto password file (created if missing, mode 0600)")]
VehicleFile = Annotated[
    Path | None,
    typer.Option(help="A single-listener broker's password file; without it, the device listener's plugin"),
]


def _registered(vin: str) -> None:
    """Broker accounts only for vehicles the server knows: anything else is someone's guess."""
    from telemetry.errors import NotFoundError
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        if conn.execute("SELECT 1 FROM vehicles WHERE vin = %s", (vin,)).fetchone() is None:
            raise NotFoundError(f"vehicle {vin} is not registered: POST /vehicles first")


def _device_accounts() -> DeviceAccounts:
    settings = Settings()
    if not settings.broker_admin_url:
        raise ConfigError(
            "set TELEMETRY_BROKER_ADMIN_URL (the device listener's admin account) or give --password-file"
        )
    return DeviceAccounts(settings.broker_admin_url, ca_file=settings.broker_ca_file, prefix=settings.mqtt_topic_prefix)


@vehicles_app.command("credentials")
def vehicle_credentials(
    vin: str,
    rotate: Annotated[bool, typer.Option(help="Replace the password of an existing account")] = False,
    password_file: VehicleFile = None,
) -> None:
    """Create a registered vehicle's broker account (or --rotate its password); prints the password once."""
    _registered(vin)
    if password_file is not None:
        password = add_vehicle(password_file, vin)
        typer.echo(f"user {vin}\npassword {password}\n(reload the broker: kill -HUP $(pidof mosquitto))")
        return
    password = asyncio.run(_device_accounts().create(vin, rotate=rotate))
    typer.echo(f"user {vin}\npassword {password}")


@vehicles_app.command("command-key")
def vehicle_command_key(vin: str) -> None:
    """Print a registered vehicle's command key (hex), for its agent's `command_key`: the vehicle
    checks with it that commands come from this server (TELEMETRY_COMMAND_SECRET derives it)."""
    from commands.signing import vehicle_key

    _registered(vin)
    secret = Settings().command_secret
    if secret is None:
        raise ConfigError("TELEMETRY_COMMAND_SECRET is not set: commands are not signed")
    typer.echo(vehicle_key(secret.get_secret_value().encode(), vin).hex())


@vehicles_app.command("revoke")
def vehicle_revoke(vin: str, password_file: VehicleFile = None) -> None:
    """Delete a vehicle's broker account; on the device listener it is disconnected at once."""
    if password_file is not None:
        remove_user(password_file, vin)
        typer.echo(f"revoked {vin} (reload the broker: kill -HUP $(pidof mosquitto) disconnects it)")
        return
    asyncio.run(_device_accounts().revoke(vin))
    typer.echo(f"revoked {vin}: disconnected, and its password no longer works")


@broker_app.command("user")
def broker_user(name: str, password_file: PasswordFile = Path("/etc/mosquitto/telemetry-server.passwd")) -> None:
    """Create (or replace) an account on the server listener, such as the server's own; prints its password once."""
    password = add_user(password_file, name)
    typer.echo(f"user {name}\npassword {password}")


@broker_app.command("init-devices")
def broker_init_devices(
    config_file: Annotated[Path, typer.Option(help="The dynamic-security plugin's file (must not exist yet)")] = Path(
        "/var/lib/mosquitto/dynamic-security.json"
    ),
    admin: Annotated[str, typer.Option(help="User name of the device listener's admin account")] = "telemetry-admin",
) -> None:
    """Create the device listener's account store with its admin account; prints the password once."""
    password = init_device_store(config_file, admin)
    typer.echo(
        f"user {admin}\npassword {password}\nTELEMETRY_BROKER_ADMIN_URL=mqtts://{admin}:<password>@<broker>:8883"
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, oem, advisor (needs --dealer) or vehicle-readonly")],
    dealer: Annotated[int | None, typer.Option(help="The advisor's dealer id")] = None,
    name: Annotated[str, typer.Option(help="Who or what the key is for")] = "",
) -> None:
    """Create an API key; it is printed once and only its digest is stored."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync
    from telemetry.storage.migrate import upgrade

    settings = Settings()
    asyncio.run(upgrade(settings))
    with connect_sync(settings) as conn:
        key, row = apikeys.create_sync(conn, role=role, dealer_id=dealer, name=name)
    scope = f" for dealer {dealer}" if dealer is not None else ""
    typer.echo(f"key {row.id} ({role}{scope}), shown only now:\n{key}")


@keys_app.command("list")
def keys_list() -> None:
    """API keys: id, role, dealer, name, created, revoked (never the key)."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        for r in apikeys.list_sync(conn):
            revoked = f"  revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""
            dealer = f" dealer {r.dealer_id}" if r.dealer_id is not None else ""
            typer.echo(f"{r.id:>5}  tk_{r.prefix}_…  {r.role}{dealer}  {r.name}{revoked}")


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key at once."""
    from telemetry.storage import apikeys
    from telemetry.storage.db import connect_sync

    with connect_sync(Settings()) as conn:
        apikeys.revoke_sync(conn, key_id=key_id)
    typer.echo(f"key {key_id} revoked")
