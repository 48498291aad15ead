"""Our addition: operators discovered in code, and registering them with the control plane in one call."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from mie.api.deps import require_key, services
from mie.engine import plugins
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)])


@router.get("/operators")
def list_operators(request: Request) -> JSONDict:
    """Native operators found through the ``mie.operators`` entry points (with the operation each would register
    and whether it is registered), and the names of Lambda-style handlers."""
    svc = services(request)
    return plugins.describe(svc.registry, svc.catalog)


@router.post("/operators/{name}/register")
def register_operator(name: str, request: Request) -> JSONDict:
    """Create (or update to the code's definition) the operation of a discovered operator."""
    svc = services(request)
    return plugins.register(svc.registry, svc.catalog, name)
