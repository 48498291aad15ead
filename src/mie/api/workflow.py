"""The workflow (control-plane) API: MIE's ``workflowapi`` routes (teardown §2.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

import mie
from mie.api import schemas
from mie.api.bodies import seq_token
from mie.api.deps import json_body, page_params, paginate, require_key, services, set_next
from mie.errors import InvalidError, NotFoundError, NotImplementedYetError
from mie.model.records import workflow_configuration
from mie.types import JSONDict

public = APIRouter()
router = APIRouter(dependencies=[Depends(require_key)])

Body = Annotated[Any, Depends(json_body)]
Limit = Annotated[int | None, Query(description="page size; without it the whole list is returned")]
Next = Annotated[str | None, Query(alias="next", description="the X-Next-Token of the previous page")]
Force = Annotated[str | None, Query(description="'true' deletes even when workflows depend on it")]


def _force(value: str | None) -> bool:
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise InvalidError("force must be 'true' or 'false'")
    return value.lower() == "true"


def _listing(
    request: Request, response: Response, items: list[JSONDict], limit: int | None, token: str | None
) -> list[JSONDict]:
    limit, after = page_params(limit, token)
    page, nxt = paginate(items, "Name", limit, after)
    set_next(request, response, nxt)
    return page


@public.get("/")
def hello() -> JSONDict:
    """MIE's unauthenticated index."""
    return {"hello": "world"}


@public.get("/version")
def version() -> JSONDict:
    """API and framework versions."""
    return {"ApiVersion": mie.API_VERSION, "FrameworkVersion": f"v{mie.__version__}"}


# System configuration -------------------------------------------------------------------------------------------


@router.post("/system/configuration", openapi_extra=schemas.body(schemas.ConfigurationItem))
def set_configuration(request: Request, body: Body) -> JSONDict:
    """Store ``{Name, Value}``; ``MaxConcurrentWorkflows`` takes effect at once."""
    return services(request).catalog.set_configuration(body)


@router.get("/system/configuration")
def get_configuration(request: Request) -> list[JSONDict]:
    """Every system configuration item."""
    return services(request).catalog.list_configuration()


# Operations -----------------------------------------------------------------------------------------------------


@router.post("/workflow/operation", openapi_extra=schemas.body(schemas.OperationRequest))
def create_operation(request: Request, body: Body) -> JSONDict:
    """Create an operation (and its singleton stage ``_<Name>``)."""
    return services(request).catalog.create_operation(body)


@router.put("/workflow/operation", openapi_extra=schemas.body(schemas.OperationRequest))
def update_operation(request: Request, body: Body) -> JSONDict:
    """Replace an operation; stages and workflows that use it pick the change up."""
    return services(request).catalog.update_operation(body)


@router.get("/workflow/operation")
def list_operations(request: Request, response: Response, limit: Limit = None, token: Next = None) -> list[JSONDict]:
    """Every operation."""
    return _listing(request, response, services(request).catalog.list_operations(), limit, token)


@router.get("/workflow/operation/{Name}")
def get_operation(request: Request, Name: str) -> JSONDict:  # noqa: N803 - MIE's path parameter name
    """One operation."""
    return services(request).catalog.get_operation(Name)


@router.delete("/workflow/operation/{Name}")
def delete_operation(request: Request, Name: str, force: Force = None) -> JSONDict:  # noqa: N803
    """Delete an operation (``?force=true`` even when workflows use it)."""
    return services(request).catalog.delete_operation(Name, force=_force(force))


# Stages ---------------------------------------------------------------------------------------------------------


@router.post("/workflow/stage", openapi_extra=schemas.body(schemas.StageRequest))
def create_stage(request: Request, body: Body) -> JSONDict:
    """Create a stage of operations run in parallel."""
    return services(request).catalog.create_stage(body)


@router.put("/workflow/stage", openapi_extra=schemas.body(schemas.StageRequest))
def update_stage(request: Request, body: Body) -> JSONDict:
    """Replace a stage's operations; workflows that use it pick the change up."""
    return services(request).catalog.update_stage(body)


@router.get("/workflow/stage")
def list_stages(request: Request, response: Response, limit: Limit = None, token: Next = None) -> list[JSONDict]:
    """Every stage."""
    return _listing(request, response, services(request).catalog.list_stages(), limit, token)


@router.get("/workflow/stage/{Name}")
def get_stage(request: Request, Name: str) -> JSONDict:  # noqa: N803
    """One stage."""
    return services(request).catalog.get_stage(Name)


@router.delete("/workflow/stage/{Name}")
def delete_stage(request: Request, Name: str, force: Force = None) -> JSONDict:  # noqa: N803
    """Delete a stage (``?force=true`` even when workflows use it)."""
    return services(request).catalog.delete_stage(Name, force=_force(force))


# Executions (declared before /workflow/{Name} so that the literal paths win) ------------------------------------


@router.post("/workflow/execution", openapi_extra=schemas.body(schemas.ExecutionRequest))
def create_execution(request: Request, body: Body) -> JSONDict:
    """Start a workflow on new media (``Input.Media``) or an existing asset (``Input.AssetId``)."""
    return services(request).executions.create(body)


@router.get("/workflow/execution")
def list_executions(request: Request, response: Response, limit: Limit = None, token: Next = None) -> list[JSONDict]:
    """Every execution, oldest first (full records)."""
    limit, after = page_params(limit, token)
    seq = _seq(after)
    items, nxt = services(request).executions.list_all(limit=limit, after=seq)
    set_next(request, response, None if nxt is None else str(nxt))
    return items


def _seq(token: str | None) -> int | None:
    return None if token is None else seq_token(token)


@router.get("/workflow/execution/status/{Status}")
def executions_by_status(
    request: Request,
    response: Response,
    Status: str,  # noqa: N803
    limit: Limit = None,
    token: Next = None,
) -> list[JSONDict]:
    """Executions with one status (short records)."""
    limit, after = page_params(limit, token)
    items, nxt = services(request).executions.by_status(Status, limit=limit, after=_seq(after))
    set_next(request, response, None if nxt is None else str(nxt))
    return items


@router.get("/workflow/execution/asset/{AssetId}")
def executions_by_asset(request: Request, AssetId: str) -> list[JSONDict]:  # noqa: N803
    """Executions of one asset, newest first."""
    return services(request).executions.by_asset(AssetId)


@router.get("/workflow/execution/{Id}")
def get_execution(request: Request, Id: str) -> JSONDict:  # noqa: N803
    """One execution (full record)."""
    return services(request).executions.get(Id)


@router.put("/workflow/execution/{Id}", openapi_extra=schemas.body(schemas.ResumeRequest, required=False))
def resume_execution(request: Request, Id: str, body: Body) -> JSONDict:  # noqa: N803
    """Resume a ``Waiting`` execution: ``{"WaitingStageName": S}``."""
    return services(request).executions.resume(Id, body if body is not None else {})


@router.post("/workflow/execution/{Id}/cancel")
def cancel_execution(request: Request, Id: str) -> JSONDict:  # noqa: N803
    """Cancel a queued, running or waiting execution; it ends ``Error`` with ``Message: Cancelled by request``."""
    return services(request).executions.cancel(Id)


@router.delete("/workflow/execution/{Id}")
def delete_execution(request: Request, Id: str) -> JSONDict:  # noqa: N803
    """Delete an execution record; its running work stops."""
    return services(request).executions.delete(Id)


# Workflows ------------------------------------------------------------------------------------------------------


@router.post("/workflow", openapi_extra=schemas.body(schemas.WorkflowRequest))
def create_workflow(request: Request, body: Body) -> JSONDict:
    """Create a workflow of stages linked by ``Next``/``End``."""
    return services(request).catalog.create_workflow(body)


@router.put("/workflow", openapi_extra=schemas.body(schemas.WorkflowUpdateRequest))
def update_workflow(request: Request, body: Body) -> JSONDict:
    """Update a workflow (re-snapshots the current stage records)."""
    return services(request).catalog.update_workflow(body)


@router.get("/workflow")
def list_workflows(request: Request, response: Response, limit: Limit = None, token: Next = None) -> list[JSONDict]:
    """Every workflow."""
    return _listing(request, response, services(request).catalog.list_workflows(), limit, token)


@router.get("/workflow/list/operation/{OperatorName}")
def workflows_with_operation(request: Request, OperatorName: str) -> list[JSONDict]:  # noqa: N803
    """Workflows that use an operation."""
    return services(request).catalog.list_workflows(lambda w: OperatorName in w.get("Operations", []))


@router.get("/workflow/list/stage/{StageName}")
def workflows_with_stage(request: Request, StageName: str) -> list[JSONDict]:  # noqa: N803
    """Workflows that use a stage."""
    return services(request).catalog.list_workflows(lambda w: StageName in w.get("Stages", {}))


@router.get("/workflow/configuration/{Name}")
def get_workflow_configuration(request: Request, Name: str) -> JSONDict:  # noqa: N803
    """``{stage: {operation: configuration}}`` of a workflow."""
    return workflow_configuration(services(request).catalog.get_workflow(Name))


@router.get("/workflow/{Name}")
def get_workflow(request: Request, Name: str) -> JSONDict:  # noqa: N803
    """One workflow."""
    try:
        return services(request).catalog.get_workflow(Name)
    except NotFoundError as exc:
        raise NotFoundError(f"workflow '{Name}' not found") from exc


@router.delete("/workflow/{Name}")
def delete_workflow(request: Request, Name: str) -> JSONDict:  # noqa: N803
    """Delete a workflow (executions already created keep their copy)."""
    return services(request).catalog.delete_workflow(Name)


# MIE service routes not served by a feature router --------------------------------------------------------


#: Mounted after every feature router, so that a service route that exists wins over this catch-all.
fallback = APIRouter(dependencies=[Depends(require_key)])


@fallback.get("/service/{rest:path}", operation_id="service_get")
@fallback.post("/service/{rest:path}", operation_id="service_post")
@fallback.put("/service/{rest:path}", operation_id="service_put")
@fallback.delete("/service/{rest:path}", operation_id="service_delete")
def service_not_yet(request: Request, rest: str) -> JSONDict:
    """MIE ``/service/*`` routes that no feature router serves (e.g. ``update_vocabulary``): 501, not 404, since
    MIE has them; a served route called with a method it does not have is 405, as everywhere else."""
    allowed = _allowed_methods(request)
    if allowed:
        raise StarletteHTTPException(
            405, f"{request.method} is not allowed here; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)}
        )
    raise NotImplementedYetError(
        f"/service/{rest} is not available in this version of the engine; see docs/api.md for the service routes "
        "it serves"
    )


def _allowed_methods(request: Request) -> list[str]:
    """The methods of the feature routes (``mie.api.app.ROUTERS``) that serve the request's path."""
    from mie.api.app import ROUTERS  # the app imports this module

    path = request.scope["path"]
    allowed: set[str] = set()
    for router, prefix in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and compile_path(prefix + route.path)[0].match(path):
                allowed |= route.methods or set()
    return sorted(allowed)
