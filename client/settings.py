"""Connection settings shared by the worker, the CLI and the demo, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_TASK_QUEUE = "tdkt-nominations"


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    database_url: str | None
    log_format: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
            temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", "default"),
            task_queue=os.environ.get("TASK_QUEUE", DEFAULT_TASK_QUEUE),
            database_url=os.environ.get("DATABASE_URL") or None,
            log_format=os.environ.get("LOG_FORMAT", "console"),
        )
