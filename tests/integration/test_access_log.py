"""`python -m api`'s access log keeps the path and drops the query string: a token (or any text) sent there
is refused and never written to the log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

SECRET = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_token_in_the_query_string_is_refused_and_not_logged(tmp_path):
    port = free_port()
    env = dict(os.environ) | {"TDKT_AUTH_KEYS": "k1:" + "k" * 40, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"http://127.0.0.1:{port}/problems/not-found")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/nominations?access_token={SECRET}&q=Nguy%E1%BB%85n") == 401
        assert get(f"http://127.0.0.1:{port}/nominations?token={SECRET}") == 401
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    text = (tmp_path / "api.log").read_text(encoding="utf-8", errors="replace")
    assert '"GET /nominations?… HTTP/1.1" 401' in text, text  # the request was logged...
    assert SECRET not in text and "Nguy" not in text  # ...without its query


def test_a_cast_ballot_is_logged_without_the_client_address():
    import logging

    from api.access_log import WithoutQueryString

    def logged(path: str) -> str:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None)
        record.args = ("10.1.2.3:5555", "POST", path, "1.1", 201)
        assert WithoutQueryString().filter(record)
        return record.getMessage()

    assert logged("/ballot-sessions/ballot-council-BTP-HD-1/ballots") == (
        '- - "POST /ballot-sessions/ballot-council-BTP-HD-1/ballots HTTP/1.1" 201'
    )
    # A credential request names its voter by token: its address stays, the ballot's is the one dropped.
    assert logged("/ballot-sessions/ballot-council-BTP-HD-1/credentials").startswith("10.1.2.3:5555 - ")
