"""The HTTP API (FastAPI) over the engine's client operations: `create_app` in api.app, `python -m api`."""

from api.app import create_app

__all__ = ["create_app"]
