"""Codec server: lets authorised operators read encrypted payloads in the Temporal UI and CLI.

python codec_server.py --port 8888        # keys as the worker's (TDKT_CODEC_KEYS / TDKT_CODEC_KEY_ID, or
                                          # .state/codec-keys.json); token TDKT_CODEC_TOKEN

Temporal's remote codec protocol: ``POST /encode`` and ``POST /decode`` (also under any prefix, e.g.
``/default/decode``), body and answer ``{"payloads": [...]}`` in protobuf JSON. Both need the operator token
(``TDKT_CODEC_TOKEN``, at least 16 characters; when unset a random one is made for this run and printed), as

* ``Authorization: Bearer <token>`` — the CLI: ``temporal workflow show -w ID --codec-endpoint
  http://localhost:8888 --codec-auth "Bearer $TDKT_CODEC_TOKEN"``;
* or the cookie set by signing in at ``http://localhost:8888/login`` — the browser. The Temporal UI sends its
  own OIDC access token as the bearer ("Pass access token", HTTPS endpoints only, and only with UI login),
  never this token; what it can send is the codec server's cookie, when "Include cross-origin credentials" is
  ticked in its Codec Server settings. The cookie is HttpOnly and SameSite=Strict: open the UI and the codec
  server under the same host name (both ``localhost``, not one ``127.0.0.1``).

CORS admits the Temporal UI origins in ``TDKT_CODEC_UI_ORIGINS`` (comma-separated; default
``http://localhost:8233``, the dev server's UI), with credentials.

What an operator sees: nominations, their memo (nominee, award), actions and results in clear. Ballots stay
sealed: their choices were encrypted on the voter's side to the session's sealing key, whose private half only
the counting committee's shares rebuild, in memory, at the count; so a ballot decodes to ciphertext, and no
cast names its voter.
"""

from __future__ import annotations

import argparse
import hmac
import html
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from security.codec import CodecError, EncryptionCodec, Keyring, load_keyring
from security.keys import refuse_published

TOKEN_ENV = "TDKT_CODEC_TOKEN"
ORIGINS_ENV = "TDKT_CODEC_UI_ORIGINS"
DEFAULT_ORIGINS = ("http://localhost:8233",)
COOKIE = "tdkt_codec_token"
COOKIE_MAX_AGE = 8 * 3600
MIN_TOKEN_CHARS = 16
MAX_BODY_BYTES = 64 * 1024 * 1024
UNDECODED_HEADER = "X-Codec-Undecoded"

log = logging.getLogger("codec_server")


def ui_origins(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    raw = env.get(ORIGINS_ENV, "")
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()] or list(DEFAULT_ORIGINS)
    for origin in origins:
        if origin == "*" or not origin.startswith(("http://", "https://")):
            raise ValueError(f"{ORIGINS_ENV}: {origin!r} is not an origin such as http://localhost:8233 (no '*')")
    return origins


def check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters")
    refuse_published(TOKEN_ENV, [token])
    return token


def create_app(keyring: Keyring | None = None, *, token: str, origins: Sequence[str] = DEFAULT_ORIGINS) -> FastAPI:
    """The codec server for `keyring` (default: `load_keyring()`), admitting requests that carry `token`."""
    expected = check_token(token).encode()
    codec = EncryptionCodec(keyring or load_keyring())
    app = FastAPI(title="TĐKT codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        expose_headers=[UNDECODED_HEADER],
        max_age=600,
    )

    def authorised(request: Request) -> bool:
        offered: list[str] = []
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            offered.append(value.strip())
        if cookie := request.cookies.get(COOKIE):
            offered.append(cookie)
        return any(hmac.compare_digest(candidate.encode(), expected) for candidate in offered)

    def refused() -> JSONResponse:
        return JSONResponse(
            {"detail": f"operator token required: Authorization: Bearer <{TOKEN_ENV}>, or sign in at /login"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def read_payloads(request: Request) -> Payloads | JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "body too large"}, status_code=413)
        try:
            return json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as err:
            return JSONResponse({"detail": f'body is not {{"payloads": [...]}} in protobuf JSON: {err}'}, 400)

    def answer(payloads: Sequence[Payload], undecoded: int = 0) -> Response:
        return Response(
            json_format.MessageToJson(Payloads(payloads=payloads)),
            media_type="application/json",
            headers={UNDECODED_HEADER: str(undecoded)},
        )

    async def encode(request: Request) -> Response:
        if not authorised(request):
            return refused()
        parsed = await read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        return answer(await codec.encode(parsed.payloads))

    async def decode(request: Request) -> Response:
        if not authorised(request):
            return refused()
        parsed = await read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        decoded: list[Payload] = []
        undecoded = 0
        for payload in parsed.payloads:
            # One at a time: a payload under a key this server lacks stays encrypted, the rest still show.
            try:
                decoded.extend(await codec.decode([payload]))
            except CodecError as err:
                log.warning("payload left encrypted: %s", err)
                decoded.append(payload)
                undecoded += 1
        return answer(decoded, undecoded)

    endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {"encode": encode, "decode": decode}
    for name, endpoint in endpoints.items():
        # The protocol looks only at the last part of the path, so /{namespace}/decode works too.
        app.add_api_route(f"/{name}", endpoint, methods=["POST"], include_in_schema=False)
        app.add_api_route(f"/{{prefix:path}}/{name}", endpoint, methods=["POST"], include_in_schema=False)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form() -> HTMLResponse:
        return HTMLResponse(_page("Sign in", _FORM))

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> HTMLResponse:
        offered = parse_qs((await request.body()).decode("utf-8", errors="replace")).get("token", [""])[0].strip()
        if not hmac.compare_digest(offered.encode(), expected):
            return HTMLResponse(_page("Sign in", "<p>Wrong token.</p>" + _FORM), status_code=401)
        done = (
            "<p>Signed in for 8 hours. In the Temporal UI open <b>Codec Server</b> settings, set the endpoint to "
            f"<code>{html.escape(str(request.base_url).rstrip('/'))}</code> and tick <b>Include cross-origin "
            "credentials</b>.</p>"
        )
        response = HTMLResponse(_page("Signed in", done))
        response.set_cookie(
            COOKIE,
            offered,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout() -> Response:
        response = HTMLResponse(_page("Signed out", "<p>Signed out.</p>"))
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    return app


_FORM = (
    '<form method="post" action="/login"><label>Operator token '
    '<input type="password" name="token" autocomplete="off" autofocus></label> '
    '<button type="submit">Sign in</button></form>'
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{title} – TĐKT codec server</title>'
        f"<body><h1>TĐKT codec server</h1>{body}</body></html>"
    )


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Temporal codec server for the TĐKT engine's encrypted payloads")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port (default 8888)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            token = secrets.token_urlsafe(24)
            print(
                f"{TOKEN_ENV} is not set; the operator token for this run is: {token}\n"
                f"sign in at http://localhost:{args.port}/login",
                file=sys.stderr,
            )
        keyring = load_keyring()
        origins = ui_origins()
        app = create_app(keyring, token=token, origins=origins)
    except ValueError as err:  # CodecError included
        print(f"codec server: {err}", file=sys.stderr)
        return 2
    log.info("current key %s, %d key(s), UI origins %s", keyring.current_id, len(keyring.keys), origins)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
