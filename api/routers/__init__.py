"""The API's routes, one module per resource. ROUTERS is the order the app includes them in: a path that
takes a whole id with '/' in it (`{decision_no:path}`) matches longer paths too, so the route for the longer
path (a decision's export, its printable document) is included before it."""

from fastapi import APIRouter

from api.routers import (
    actions,
    bloc_years,
    counting,
    decisions,
    documents,
    imports,
    nominations,
    problems,
    reports,
    sessions,
    tokens,
)

ROUTERS: tuple[APIRouter, ...] = (
    nominations.router,
    imports.router,
    actions.router,
    sessions.router,
    counting.router,
    reports.router,
    documents.router,
    decisions.router,
    bloc_years.router,
    tokens.router,
    problems.router,
)

__all__ = ["ROUTERS"]
