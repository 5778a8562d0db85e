"""The browser tests drive the same dev server, worker and PostgreSQL as the integration tests."""

from tests.integration.conftest import *  # noqa: F403  (fixtures: temporal_env, client, db_engine, task_queue, ...)
