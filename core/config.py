"""Settings, read from the environment (prefix ``CAMPAIGNS_``) and an optional ``.env``.

Read at the edge only (``get_settings()`` in a command, the worker or the API's lifespan),
never at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "CAMPAIGNS_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    database_url: str = "sqlite:///.campaigns/campaigns.db"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    # How long the API waits for a pooled connection before it answers 503 (not 30 s and a 500).
    db_pool_timeout: float = Field(default=2.0, gt=0, le=60)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    task_queue: str = "campaigns"
    # The worker's Prometheus endpoint (Temporal's SDK metrics and the campaign's); 0 disables.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # On SIGTERM the worker stops polling and gives running activities this long to finish
    # before it cancels them (temporalio's ``graceful_shutdown_timeout``).
    worker_grace_seconds: float = Field(default=10.0, ge=0, le=3600)
    # The worker's capacity (temporalio's Worker options; their defaults). Each cached running
    # workflow costs ~0.4 MB: a smaller sticky cache trades memory for replays on wake-up.
    worker_max_cached_workflows: int = Field(default=1000, ge=0, le=100_000)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=1, le=10_000)
    worker_max_concurrent_activities: int = Field(default=100, ge=1, le=10_000)
    worker_workflow_task_pollers: int = Field(default=5, ge=2, le=100)
    worker_activity_task_pollers: int = Field(default=5, ge=1, le=100)

    x_base_url: str = "http://127.0.0.1:8001"
    x_bearer_token: SecretStr | None = None
    ledger_base_url: str = "http://127.0.0.1:8001/ledger"
    ledger_api_key: SecretStr | None = None
    # Which Ledger adapter the worker builds: the HTTP ledger API, or the escrow contract
    # over Ethereum JSON-RPC. What is unset below is discovered from the sandbox's
    # ``/sandbox/evm`` when the RPC URL is the sandbox's ``.../evm``.
    ledger: Literal["http", "evm"] = "http"
    evm_rpc_url: str = "http://127.0.0.1:8001/evm"
    evm_private_key: SecretStr | None = None
    evm_escrow_address: str | None = None
    evm_receipt_timeout: float = Field(default=120.0, gt=0, le=3600)

    operator_api_key: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8001, ge=1, le=65535)
    # Where `campaigns sandbox` keeps its world (SQLite); unset: in memory, forgotten on exit.
    sandbox_state_file: Path | None = None

    # Used by the CLI's client commands (list, show, publish, ...).
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None

    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    state_dir: Path = Path(".campaigns")

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(f"not a database URL: {value!r}") from error
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"only sqlite and postgresql are supported, got {url.drivername!r}")
        return value

    @field_validator("ledger", mode="before")
    @classmethod
    def _lower_ledger(cls, value: object) -> object:
        return value.lower().strip() if isinstance(value, str) else value

    @field_validator("evm_escrow_address", mode="before")
    @classmethod
    def _empty_address_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("evm_escrow_address")
    @classmethod
    def _address_shape(cls, value: str | None) -> str | None:
        hex_part = (value or "0x" + "0" * 40)[2:]
        if value is not None and not (
            value.startswith("0x") and len(hex_part) == 40 and _is_hex(hex_part)
        ):
            raise ValueError(f"not a 0x-prefixed 20-byte address: {value!r}")
        return value

    @field_validator("evm_private_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        # docker compose passes an unset ${CAMPAIGNS_EVM_PRIVATE_KEY:-} as ""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("evm_private_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # the message never repeats the key
        key = value.get_secret_value().removeprefix("0x") if value is not None else None
        if key is not None and not (len(key) == 64 and _is_hex(key)):
            raise ValueError("not a 32-byte hex private key")
        return value

    @field_validator("worker_metrics_port", mode="before")
    @classmethod
    def _empty_port_disables(cls, value: object) -> object:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("sandbox_state_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdefABCDEF" for character in text)


class SettingsError(Exception):
    """Settings that do not validate, explained in one line per setting."""


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]).upper() if item["loc"] else "?"
        parts.append(f"{ENV_PREFIX}{field}: {item['msg']}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
