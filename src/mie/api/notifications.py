"""``/api/notifications``: webhook and e-mail subscriptions and their delivery log (docs/notifications.md).

Mounted through ``ROUTERS`` in ``mie.api.app`` with the prefix ``/api/notifications``; every route needs the API
key. Listings are arrays paged like MIE's (``limit``, ``next`` and the ``X-Next-Token`` header).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mie.api import schemas
from mie.api.bodies import seq_token
from mie.api.deps import json_body, page_params, require_key, services, set_next
from mie.consumers.notify import Notifications
from mie.errors import NotImplementedYetError
from mie.types import JSONDict

router = APIRouter(dependencies=[Depends(require_key)], tags=["notifications"])

Body = Annotated[Any, Depends(json_body)]
Limit = Annotated[int | None, Query(description="page size; without it the whole list is returned")]
Next = Annotated[str | None, Query(alias="next", description="the X-Next-Token of the previous page")]


def _notifications(request: Request) -> Notifications:
    component = services(request).notifications
    if component is None:
        raise NotImplementedYetError("notifications are not enabled on this server")
    return component


def _page(limit: int | None, token: str | None) -> tuple[int | None, int | None]:
    limit, after = page_params(limit, token)
    if after is None:
        return limit, None
    return limit, seq_token(after)


@router.post("", openapi_extra=schemas.body(schemas.SubscriptionRequest))
def create_subscription(request: Request, body: Body) -> JSONDict:
    """Subscribe a webhook ``{"Url", "Events"?, "Statuses"?, "Secret"?}`` or an address ``{"Email", ...}``.

    The answer carries the webhook's ``Secret`` (generated when not given): it is never shown again.
    """
    return _notifications(request).create_subscription(body)


@router.get("")
def list_subscriptions(request: Request, response: Response, limit: Limit = None, token: Next = None) -> list[JSONDict]:
    """Every subscription, oldest first."""
    limit, after = _page(limit, token)
    items, nxt = _notifications(request).list_subscriptions(limit=limit, after=after)
    set_next(request, response, None if nxt is None else str(nxt))
    return items


@router.get("/{Id}")
def get_subscription(request: Request, Id: str) -> JSONDict:  # noqa: N803 - MIE's style of path parameters
    """One subscription."""
    return _notifications(request).get_subscription(Id)


@router.delete("/{Id}")
def delete_subscription(request: Request, Id: str) -> JSONDict:  # noqa: N803
    """Delete a subscription and its delivery log (pending deliveries are not sent)."""
    return _notifications(request).delete_subscription(Id)


@router.get("/{Id}/deliveries")
def list_deliveries(
    request: Request,
    response: Response,
    Id: str,  # noqa: N803
    limit: Limit = None,
    token: Next = None,
) -> list[JSONDict]:
    """The delivery log of a subscription, oldest first: ``State`` (pending, delivered, failed), ``Attempts``,
    ``StatusCode``, ``LastError``, and the ``Payload`` sent."""
    limit, after = _page(limit, token)
    items, nxt = _notifications(request).deliveries(Id, limit=limit, after=after)
    set_next(request, response, None if nxt is None else str(nxt))
    return items
