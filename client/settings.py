"""Connection settings shared by the worker, the CLI, the API and the demo, read from the environment.

Temporal is reached through the SDK's environment configuration (temporalio.envconfig): a TOML profile file
(TEMPORAL_CONFIG_FILE, else the SDK's default path; profile TEMPORAL_PROFILE, else "default") overridden by the
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS* and TEMPORAL_GRPC_META_* variables. One
build so runs against the embedded dev server, a self-hosted mTLS cluster or Temporal Cloud (docs/operations.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.envconfig import ClientConfigProfile

DEFAULT_TASK_QUEUE = "tdkt-nominations"
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
DEFAULT_TEMPORAL_NAMESPACE = "default"
CONFIG_FILE_ENV = "TEMPORAL_CONFIG_FILE"
PROFILE_ENV = "TEMPORAL_PROFILE"


class TemporalConfigError(ValueError):
    """The Temporal connection's configuration cannot be read: the message names the variable or the file."""


def temporal_profile(env: Mapping[str, str] | None = None) -> ClientConfigProfile:
    """The envconfig profile the environment selects, its TEMPORAL_* variables applied.

    A TEMPORAL_CONFIG_FILE that does not exist is an error here (the SDK would skip it and quietly connect to
    localhost instead of the cluster the operator meant)."""
    environ = dict(os.environ if env is None else env)
    config_file = environ.get(CONFIG_FILE_ENV, "").strip()
    if config_file and not Path(config_file).is_file():
        raise TemporalConfigError(f"{CONFIG_FILE_ENV}={config_file!r}: no such file")
    try:
        return ClientConfigProfile.load(override_env_vars=environ)
    except RuntimeError as err:  # the SDK's ConfigError: an unknown profile, a TOML syntax error, a bad value
        where = f" ({CONFIG_FILE_ENV}={config_file!r})" if config_file else ""
        profile = environ.get(PROFILE_ENV) or "default"
        raise TemporalConfigError(f"Temporal profile {profile!r}{where}: {err}") from None


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    database_url: str | None
    log_format: str
    # The rest of the connection (API key, TLS, gRPC metadata) from the same profile; client.temporal.connect
    # takes the address and namespace above and these.
    temporal: ClientConfigProfile = field(default_factory=ClientConfigProfile)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if env is None else env
        profile = temporal_profile(environ)
        return cls(
            temporal_address=profile.address or DEFAULT_TEMPORAL_ADDRESS,
            temporal_namespace=profile.namespace or DEFAULT_TEMPORAL_NAMESPACE,
            task_queue=environ.get("TASK_QUEUE", DEFAULT_TASK_QUEUE),
            database_url=environ.get("DATABASE_URL") or None,
            log_format=environ.get("LOG_FORMAT", "console"),
            temporal=profile,
        )
