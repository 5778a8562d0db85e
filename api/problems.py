"""Errors as problem details (RFC 9457, ``application/problem+json``).

Every error the API returns has ``type`` (a URI this API serves at ``/problems/<slug>``), ``title``,
``status``, ``detail`` and ``instance`` (the request's path); a validation error adds
``errors: [{field, message}]`` naming each field at fault, as the CLI names them on stderr.

How the engine's exceptions map:

==============================================  =====  ===========================
InvalidInput, request validation, ValidationError  422  ``invalid-input``
AuthError, no token                               401  ``unauthenticated``
actor in the body is not the token's              403  ``forbidden``
NominationNotFound (also an unknown session)      404  ``not-found``
ActionRefused (the workflow's validator)          409  ``action-refused``
Duplicate{Nomination,Session,Decision}            409  ``duplicate`` (200 when it is the same request)
Idempotency-Key reused with another body          409  ``idempotency-key-reused``
a body over the size limit                        413  ``payload-too-large``
a body of a type the route does not read          415  ``unsupported-media-type``
Temporal unreachable                              503  ``service-unavailable``
==============================================  =====  ===========================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from client.ballots import DuplicateSession
from client.decisions import DuplicateDecision
from client.nominations import ActionRefused, DuplicateNomination, NominationNotFound
from domain.errors import FieldError, InvalidInput, Language, field_errors_from, pydantic_message
from security.tokens import AuthError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"
NAMED_IN_MESSAGE = re.compile(r"^Value error, ([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.DOTALL)

log = logging.getLogger("api")


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    @property
    def title_vi(self) -> str:
        return PROBLEM_TITLES_VI.get(self.slug, self.title)

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        ProblemType(
            "invalid-input",
            422,
            "Invalid input",
            "The request's body, path, query or headers failed validation; `errors` names each field at fault. "
            "Nothing was started or changed.",
        ),
        ProblemType(
            "unauthenticated",
            401,
            "Not authenticated",
            "A signed token is required (`Authorization: Bearer <token>`); it was missing, malformed, expired, "
            "forged, signed with an unknown key or revoked (`POST /tokens/revoke`; the detail names its id). An "
            "administrator issues tokens with `starter.py token issue --for ACTOR`.",
        ),
        ProblemType(
            "forbidden",
            403,
            "Not the token's actor",
            "The body names an actor (or a proposer) other than the token's: every action is the token's actor's. "
            "Or the token's actor has no part in what was asked: a reader outside its scope, someone outside a "
            "ballot session's electorate asking for a credential, someone off its counting committee.",
        ),
        ProblemType("not-found", 404, "Not found", "No nomination, ballot session, decision or route by that name."),
        ProblemType("method-not-allowed", 405, "Method not allowed", "The route exists but not for this method."),
        ProblemType(
            "payload-too-large",
            413,
            "Payload too large",
            "The request's body passed the size limit (`errors` names `body` and the limit); nothing was read "
            "further, started or changed.",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported media type",
            "The request's Content-Type is not one this route reads (`errors` names `Content-Type`); e.g. a list "
            "import is `text/csv` or the XLSX type. Nothing was started.",
        ),
        ProblemType(
            "action-refused",
            409,
            "Action refused",
            "The workflow refused the action (wrong stage, actor without the role, separation of duties, an "
            "impossible tally, a nomination on hold, ...); `detail` is the workflow's own reason. Nothing changed.",
        ),
        ProblemType(
            "duplicate",
            409,
            "Duplicate",
            "A nomination (year, ministry, reference), ballot session (kind, scope, meeting) or decision number "
            "is used once. Sending the very same request again answers 200 with the existing one instead.",
        ),
        ProblemType(
            "idempotency-key-reused",
            409,
            "Idempotency key reused",
            "This Idempotency-Key was used before by the same actor with a different request; use a new key.",
        ),
        ProblemType(
            "service-unavailable",
            503,
            "Service unavailable",
            "Temporal (or the database) cannot be reached right now; retry later with the same Idempotency-Key.",
        ),
        ProblemType("internal-error", 500, "Internal error", "An unexpected error; it has been logged."),
    )
}
# Staff read problems in Vietnamese unless they ask for English (`Accept-Language: en`).
PROBLEM_TITLES_VI: dict[str, str] = {
    "invalid-input": "Dữ liệu không hợp lệ",
    "unauthenticated": "Chưa xác thực",
    "forbidden": "Không được phép",
    "not-found": "Không tìm thấy",
    "method-not-allowed": "Phương thức không được hỗ trợ",
    "payload-too-large": "Dữ liệu gửi lên quá lớn",
    "unsupported-media-type": "Kiểu dữ liệu không được hỗ trợ",
    "action-refused": "Thao tác bị từ chối",
    "duplicate": "Đã tồn tại",
    "idempotency-key-reused": "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
    "service-unavailable": "Dịch vụ tạm thời không sẵn sàng",
    "internal-error": "Lỗi hệ thống",
}
STATUS_SLUGS = {p.status: p.slug for p in reversed(PROBLEM_TYPES.values())}


class FieldProblem(BaseModel):
    field: str = Field(description="the field at fault, as the request spells it (e.g. `nominee.full_name`)")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", description="URI of the problem type (dereferenceable)")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = Field(default=None, description="for `invalid-input`: each bad field")


class ProblemError(Exception):
    """Raised by routes for an answer in problem form. `detail` is the staff's (Vietnamese) wording; `detail_en`
    (and `errors_en`), when given, answer a reader who asks for English (request_language)."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        errors: Iterable[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        detail_en: str | None = None,
        errors_en: Iterable[FieldError] | None = None,
    ):
        self.kind = PROBLEM_TYPES[slug]
        self.status = status or self.kind.status
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.detail_en = detail_en
        self.errors_en = list(errors_en) if errors_en is not None else None
        super().__init__(detail)

    def in_language(self, language: Language) -> tuple[str, list[FieldError] | None]:
        """The detail and the field errors in `language` (Vietnamese where no English was given)."""
        if language == "en":
            return self.detail_en or self.detail, self.errors_en if self.errors_en is not None else self.errors
        return self.detail, self.errors


def invalid(field: str, message: str, en: str | None = None) -> ProblemError:
    """A field at fault: `message` in Vietnamese, `en` its English."""
    return ProblemError(
        "invalid-input",
        f"{field}: {message}",
        errors=[FieldError(field=field, message=message)],
        detail_en=f"{field}: {en}" if en is not None else None,
        errors_en=[FieldError(field=field, message=en)] if en is not None else None,
    )


def unauthenticated(detail: str, en: str | None = None) -> ProblemError:
    return ProblemError(
        "unauthenticated", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, detail_en=en
    )


def request_language(request: Request | None) -> Language:
    """The reader's language from `Accept-Language`: English when it ranks English above Vietnamese, else
    Vietnamese (the staff's language, also when the header is absent or names neither)."""
    header = request.headers.get("accept-language", "") if request is not None else ""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in ("vi", "en") and quality > 0:
            ranked.append((-quality, position, primary))
    return "en" if ranked and min(ranked)[2] == "en" else "vi"


def problem_response(
    request: Request | None,
    slug: str,
    detail: str | None,
    *,
    status: int | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    kind = PROBLEM_TYPES[slug]
    language = request_language(request)
    body = Problem(
        type=kind.uri,
        title=kind.title if language == "en" else kind.title_vi,
        status=status or kind.status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        errors=[FieldProblem(field=e.field, message=e.message) for e in errors] if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=body.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**dict(headers or {}), "Content-Language": language},
    )


def invalid_input(request: Request | None, errors: Sequence[FieldError]) -> JSONResponse:
    detail = "; ".join(str(e) for e in errors) or "invalid input"
    return problem_response(request, "invalid-input", detail, errors=errors)


def request_field_errors(exc: RequestValidationError, language: Language = "vi") -> list[FieldError]:
    """FastAPI's locations (("body", "tally", "present"), ("query", "year"), ("header", "idempotency-key"))
    as the request spells the field: body paths without "body", parameters by name. An upper-case segment
    is a discriminated union's tag (INDIVIDUAL), not a field, and is dropped (as in domain.errors)."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not (isinstance(p, str) and p.isupper())]
        where = loc[0] if loc else "body"
        rest = loc[1:]
        if where == "body":
            field = ".".join(rest) if rest and err.get("type") != "json_invalid" else "body"
        elif where == "header" and rest:
            field = "-".join(part.capitalize() for part in rest[-1].split("-"))
        else:
            field = ".".join(rest) or where
        message = pydantic_message(err, language)
        if err.get("type") == "json_invalid" and language == "en":
            message = f"not valid JSON: {err.get('ctx', {}).get('error', message)}"
        elif named := NAMED_IN_MESSAGE.match(str(err.get("msg", ""))):
            # A check across fields says which field it is about: "Value error, deadline: give ...".
            prefix = "" if field == "body" else field + "."
            field, message = prefix + named.group(1), named.group(2)
        errors.append(FieldError(field=field, message=message))
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app returns, in problem form."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        detail, errors = exc.in_language(request_language(request))
        return problem_response(request, exc.kind.slug, detail, status=exc.status, errors=errors, headers=exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidInput)
        return invalid_input(request, exc.errors)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return invalid_input(request, request_field_errors(exc, request_language(request)))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValidationError)
        return invalid_input(request, field_errors_from(exc, request_language(request)))

    async def on_auth(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request, "unauthenticated", f"unauthenticated: {exc}", headers={"WWW-Authenticate": "Bearer"}
        )

    async def on_refused(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, "action-refused", str(exc))

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, "not-found", str(exc))

    async def on_duplicate(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, "duplicate", str(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # the framework's "error parsing the body": invalid input like any other
            message = f"not valid JSON: {exc.detail}"
            return invalid_input(request, [FieldError(field="body", message=message)])
        slug = STATUS_SLUGS.get(exc.status_code, "internal-error" if exc.status_code >= 500 else "invalid-input")
        return problem_response(request, slug, str(exc.detail), status=exc.status_code, headers=exc.headers)

    async def on_rpc(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RPCError)
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return problem_response(request, "service-unavailable", f"Temporal: {exc.message}")
        log.error("temporal_error %s %s: %s", request.method, request.url.path, exc.message)
        return problem_response(request, "internal-error", f"Temporal answered {exc.status.name}: {exc.message}")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(request, "internal-error", "an unexpected error occurred; it has been logged")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(InvalidInput, on_invalid)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(ActionRefused, on_refused)
    app.add_exception_handler(NominationNotFound, on_not_found)
    for duplicate in (DuplicateNomination, DuplicateSession, DuplicateDecision):
        app.add_exception_handler(duplicate, on_duplicate)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RPCError, on_rpc)
    app.add_exception_handler(Exception, on_unexpected)


# ---- the OpenAPI document -----------------------------------------------------------------------------


def problem_schema_ref() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Problem"}


def problem_responses_in_openapi(schema: dict[str, Any]) -> None:
    """Every 4xx/5xx response in the document is problem+json; FastAPI's own 422 schema is replaced, and each
    operation lists the problems it can answer (401 where a token is required)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    components["FieldProblem"] = FieldProblem.model_json_schema()
    components["Problem"]["properties"]["errors"] = {
        "anyOf": [{"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}}, {"type": "null"}],
        "description": "for `invalid-input`: each bad field",
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            wanted = {"500"}
            if operation.get("security"):
                wanted |= {"401", "403"}  # no token; an actor the roster does not allow
            if operation.get("parameters") or operation.get("requestBody"):
                wanted.add("422")
            if operation.get("requestBody"):
                wanted.add("413")
            if any(p.get("name", "").lower() == "idempotency-key" for p in operation.get("parameters", [])):
                wanted.add("409")  # the key reused with another request
            for code in wanted:
                responses.setdefault(code, {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    titles = [p.title for p in PROBLEM_TYPES.values() if p.status == int(code)]
                    response["description"] = " · ".join(titles) or "Problem"
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem_schema_ref()}}
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
