"""One settings object, read from `TELEMETRY_*` environment variables and passed explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from telemetry.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEMETRY_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN. Unset: `telemetry demo` starts an embedded PostgreSQL.",
    )
    database_schema: str = Field(default="public", description="Schema holding every table.")
    samples_layout: Literal["auto", "timescaledb", "native"] = Field(
        default="auto", description="auto: TimescaleDB when the role can have it, else native partitions"
    )
    extension_schema: str = Field(
        default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Where the timescaledb extension lives"
    )
    mqtt_url: str | None = Field(
        default=None,
        description="Broker as mqtt://host:port. Unset: `telemetry demo` finds or starts a broker.",
    )
    broker_admin_url: str | None = Field(
        default=None,
        description="The broker's device listener as its dynamic-security admin, mqtts://admin:<password>@host:8883: "
        "where `telemetry vehicles credentials/revoke` manage vehicle accounts.",
    )
    broker_ca_file: str | None = Field(
        default=None, description="CA certificate that signed the broker's TLS certificate (else the system's CAs)."
    )
    mqtt_topic_prefix: str = Field(default="", description="Prefix before every topic, e.g. `tenant1/`.")
    mqtt_client_id: str = Field(default="telemetry", description="Stem of the MQTT client ids.")
    data_dir: Path = Field(default=Path(".telemetry"), description="Embedded database, logs, spool.")

    max_payload_bytes: int = Field(default=256 * 1024, ge=1024)
    max_future_skew_s: int = Field(default=300, ge=0)
    retention_days: int = Field(default=365, ge=1, description="Older samples are refused and dropped")
    retention_export_dir: Path | None = Field(
        default=None, description="Export each day to Parquet here before retention drops it"
    )

    vehicle_max_messages_per_s: float = Field(
        default=20.0, gt=0, description="Per vehicle and ingest worker; excess is dead-lettered as rate_limited"
    )
    vehicle_burst_messages: float = Field(default=200.0, ge=1, description="Messages a vehicle may send at once")

    ingest_batch_max_messages: int = Field(default=2000, ge=1)
    hourly_rollup_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="Native layout: how often finished hours roll up into samples_hourly"
    )
    ingest_batch_max_wait_ms: int = Field(default=200, ge=1)

    spool_after_s: float = Field(
        default=10.0, ge=0, description="Database down this long: batches go to the local disk spool"
    )
    spool_max_bytes: int = Field(default=10 * 2**30, ge=0, description="Spool size cap; then the broker holds")

    alert_reopen_within_s: int = Field(
        default=3600, ge=0, description="A cleared alert that fires again this soon is reopened, not duplicated"
    )

    incident_visit_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="A service visit this soon after an incident began is the one that followed",
    )
    rule_precision_floor: float = Field(
        default=0.5, ge=0, le=1, description="GET /rules/performance flags rules whose field precision is below this"
    )
    rule_precision_min_outcomes: int = Field(
        default=10, ge=1, description="...with at least this many repaired or no-fault-found outcomes"
    )

    rule_partitions: int = Field(default=16, ge=1, le=4096)
    rules_dir: Path | None = Field(default=None, description="Rule files; unset: the packaged library.")
    rule_checkpoint_s: float = Field(
        default=15.0,
        gt=0,
        description="Rule workers save engine state this often; deliveries since are replayed after a crash",
    )
    rule_tick_s: float = Field(
        default=10.0, gt=0, description="How often rule workers check the clock: silent vehicles, plans by date"
    )

    command_secret: SecretStr | None = Field(
        default=None, description="Signs commands to vehicles (per-vehicle keys are derived from it)"
    )

    command_ack_timeout_s: float = Field(default=30.0, gt=0, description="A command unanswered this long timed out")
    command_retry_base_s: float = Field(
        default=60.0, gt=0, description="A timed-out command goes again after this, doubling per attempt"
    )
    command_retry_cap_s: float = Field(default=3600.0, gt=0, description="Longest wait between two sends")

    api_key: SecretStr | None = Field(
        default=None, description="The key this machine's clients (`telemetry simulate`) send to the API"
    )

    phone_region: str = Field(
        default="DE", min_length=2, max_length=2, description="Country of phone numbers given without a country code"
    )

    contact_marketing_max: int = Field(
        default=1, ge=0, description="Marketing contacts a household may get within the window below"
    )
    contact_marketing_window_days: int = Field(default=91, ge=1, description="A quarter, counted back from today")
    contact_quiet_after_service_days: int = Field(
        default=30, ge=0, description="No service offer this long after a service visit of the vehicle"
    )
    contact_repeat_after_days: int = Field(
        default=7, ge=0, description="No new contact about a vehicle this soon after the last (safety excepted)"
    )
    warranty_offer_days: int = Field(
        default=60, ge=0, description="Recommend an extended-warranty offer this long before the warranty ends"
    )

    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (a CRM on the same network)",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="A CRM endpoint answers within this or it failed")
    webhook_backoff_base_s: float = Field(
        default=10.0, gt=0, description="First retry after up to this; doubling per attempt, with full jitter"
    )
    webhook_backoff_cap_s: float = Field(default=3600.0, gt=0, description="Longest wait between two attempts")
    webhook_keep_days: int = Field(
        default=30, ge=1, description="Delivered webhook events are forgotten after this many days"
    )
    webhook_give_up_after_s: float = Field(
        default=72 * 3600.0, gt=0, description="Then a failing delivery goes to the dead-letter list"
    )

    public_url: str | None = Field(
        default=None,
        description="Where people reach the API and console, e.g. https://telemetry.example.com; "
        "https marks the console's cookies Secure",
    )
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 7, description="A console sign-in lasts this long")
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("TELEMETRY_DATABASE_URL is not set")
        return self.database_url

    def require_mqtt_url(self) -> str:
        if not self.mqtt_url:
            raise ConfigError("TELEMETRY_MQTT_URL is not set")
        return self.mqtt_url

    def topic(self, suffix: str) -> str:
        return f"{self.mqtt_topic_prefix}{suffix}"
