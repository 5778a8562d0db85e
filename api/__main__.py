"""python -m api [--host 127.0.0.1] [--port 8000]: the HTTP API under uvicorn.

Settings as the worker's and the CLI's: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (or an envconfig profile:
docs/operations.md, "Any Temporal cluster"), TASK_QUEUE (where new nominations, sessions and decisions start),
DATABASE_URL (decision exports and the inbox's roster); OTEL_* (tracing, off unless set); token keys
TDKT_AUTH_KEYS / TDKT_AUTH_KEY_ID (or .state/auth-keys.json); payload encryption keys TDKT_CODEC_KEYS /
TDKT_CODEC_KEY_ID (or .state/codec-keys.json), shared with the worker. OpenAPI at /openapi.json, Swagger UI at /docs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    from api.app import create_app
    from client.settings import Settings
    from security.codec import load_keyring

    parser = argparse.ArgumentParser(prog="python -m api", description="HTTP API of the TĐKT nomination engine")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()  # a missing TEMPORAL_CONFIG_FILE or unknown TEMPORAL_PROFILE stops it here
        load_keyring()  # payloads are encrypted: a missing key stops the API here, not at its first request
        app = create_app(settings)
    except ValueError as err:  # bad keys (TDKT_AUTH_KEYS, TDKT_CODEC_KEYS, ...), Temporal profile or OTEL_* values
        print(f"api: {err}", file=sys.stderr)
        return 2
    logging.getLogger("api").info(
        "Temporal %s (namespace %s), task queue %s",
        settings.temporal_address,
        settings.temporal_namespace,
        settings.task_queue,
    )
    from api import access_log

    access_log.install()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # End without interpreter teardown, where the SDK's native runtime can abort.
    os._exit(code)
