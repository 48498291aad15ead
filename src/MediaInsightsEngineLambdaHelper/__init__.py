# ruff: noqa: N999  -- the package keeps MIE's CamelCase name so MIE operator code imports it unchanged.
"""MIE's Lambda helper library (``MediaInsightsEngineLambdaHelper``), re-implemented against the local data plane.

Existing MIE operator code imports this package unchanged::

    from MediaInsightsEngineLambdaHelper import MediaInsightsOperationHelper, MasExecutionError, DataPlane

and runs as ``StartLambdaArn: "python:package.module:lambda_handler"``. The classes, constructors, method and
argument names, return values and :class:`Status` constants are MIE's (teardown §4, package 0.0.4 and its later
``Cancelled``/``TaskToken`` additions). Only the transport of :class:`DataPlane` differs: MIE invoked the data-plane
Lambda function through boto3; here a call goes

* in-process to the engine's data plane when made inside an operator the engine is running
  (:func:`mie.operators.invoke.current_runtime`), with no HTTP round trip; or
* over HTTP to a running ``mie serve`` otherwise (``MIE_URL``, default ``http://127.0.0.1:8080``, API key from
  ``MIE_API_KEY``) — e.g. from an HTTP operator or a script.

Either way a call returns the parsed response body and never raises on an API error, as MIE's ``call_dataplane``
did: an error comes back as the error body ``{"Code": ..., "Message": ...}``, and callers test ``"Status" in resp``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

import mie
from mie.errors import InvalidError, MieError
from mie.operators.invoke import current_runtime

if TYPE_CHECKING:
    from mie.dataplane.service import DataPlane as LocalDataPlane
    from mie.operators.context import Runtime

__all__ = ["DataPlane", "MasExecutionError", "MediaInsightsOperationHelper", "OutputHelper", "Status"]

log = logging.getLogger("MediaInsightsEngineLambdaHelper")

#: Server root used by :class:`DataPlane` outside the engine when ``MIE_URL`` is not set (``mie serve``'s default).
DEFAULT_MIE_URL = "http://127.0.0.1:8080"
#: Seconds an HTTP data-plane call may take (MIE's was bounded by the calling Lambda's own timeout).
HTTP_TIMEOUT = 120.0


class Status:
    """MIE's status vocabularies (teardown §3.1)."""

    WORKFLOW_STATUS_QUEUED = "Queued"
    WORKFLOW_STATUS_STARTED = "Started"
    WORKFLOW_STATUS_WAITING = "Waiting"
    WORKFLOW_STATUS_RESUMED = "Resumed"
    WORKFLOW_STATUS_ERROR = "Error"
    WORKFLOW_STATUS_COMPLETE = "Complete"
    # Later MIE releases define it; this engine reports a cancelled execution as Error (MIE v2 had no cancel).
    WORKFLOW_STATUS_CANCELLED = "Cancelled"

    STAGE_STATUS_NOT_STARTED = "Not Started"
    STAGE_STATUS_STARTED = "Started"
    STAGE_STATUS_EXECUTING = "Executing"
    STAGE_STATUS_ERROR = "Error"
    STAGE_STATUS_COMPLETE = "Complete"

    OPERATION_STATUS_NOT_STARTED = "Not Started"
    OPERATION_STATUS_STARTED = "Started"
    OPERATION_STATUS_EXECUTING = "Executing"
    OPERATION_STATUS_ERROR = "Error"
    OPERATION_STATUS_COMPLETE = "Complete"
    OPERATION_STATUS_SKIPPED = "Skipped"


class MediaInsightsOperationHelper:
    """Reads the event an operator receives and builds its output object (MIE's full output shape)."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        """Take the operator event apart.

        ``Name``, ``AssetId``, ``WorkflowExecutionId``, ``Input``, ``Configuration`` and ``Status`` are required: a
        missing one raises ``KeyError``, exactly as MIE's helper did (operators rely on that failing loudly).
        ``MetaData`` and ``Media`` default to empty dicts. The event's dicts are used as they are, not copied: MIE
        operators mutate ``operator_object.metadata`` and expect it in the output.
        """
        log.debug("Operation Helper init event = %s", event)
        self.name: str = event["Name"]
        self.asset_id: str = event["AssetId"]
        self.workflow_execution_id: str = event["WorkflowExecutionId"]
        self.input: dict[str, Any] = event["Input"]
        self.configuration: dict[str, Any] = event["Configuration"]
        self.status: str = event["Status"]
        self.metadata: dict[str, Any] = event.get("MetaData", {})
        self.media: dict[str, Any] = event.get("Media", {})
        if "TaskToken" in event:
            # Later MIE versions (the Wait operator) carry a Step Functions task token; the attribute exists only
            # when the event has one, as there.
            self.taskToken: str = event["TaskToken"]
        # Unused by MIE itself; kept because operator code may read it.
        self.base_s3_key = "private/media/"

    def workflow_info(self) -> dict[str, Any]:
        """``{"AssetId", "WorkflowExecutionId"}`` of this call."""
        return {"AssetId": self.asset_id, "WorkflowExecutionId": self.workflow_execution_id}

    def return_output_object(self) -> dict[str, Any]:
        """The output object ``{Name, AssetId, WorkflowExecutionId, Input, Configuration, Status, MetaData,
        Media}``."""
        return {
            "Name": self.name,
            "AssetId": self.asset_id,
            "WorkflowExecutionId": self.workflow_execution_id,
            "Input": self.input,
            "Configuration": self.configuration,
            "Status": self.status,
            "MetaData": self.metadata,
            "Media": self.media,
        }

    def update_workflow_status(self, status: str) -> None:
        """Set the output's ``Status`` (the operator's status, not the execution's)."""
        self.status = status

    def add_workflow_metadata(self, **kwargs: Any) -> None:
        """Add key/value pairs to the output ``MetaData`` (later stages see them in ``Input.MetaData``)."""
        for key, value in kwargs.items():
            self.metadata.update({key: value})

    def add_workflow_metadata_json(self, json_metadata: Mapping[str, Any]) -> None:
        """Add the pairs of a dict to the output ``MetaData``."""
        for key, value in json_metadata.items():
            self.metadata.update({key: value})

    def add_media_object(self, media_type: str, s3_bucket: str, s3_key: str) -> None:
        """Name a media object in the output ``Media``: ``Media[media_type] = {"S3Bucket", "S3Key"}``."""
        self.media[media_type] = {"S3Bucket": s3_bucket, "S3Key": s3_key}


class OutputHelper:
    """Builds the short output object ``{Name, Status, MetaData, Media}`` (MIE's other output shape).

    As in MIE, an instance kept at module level is reused across calls and keeps its metadata between them.
    """

    def __init__(self, name: str) -> None:
        """Start an empty output for the operator called ``name`` (``Status`` is ``""`` until set)."""
        self.name = name
        self.status = ""
        self.metadata: dict[str, Any] = {}
        self.media: dict[str, Any] = {}
        self.base_s3_key = "private/media/"

    def return_output_object(self) -> dict[str, Any]:
        """The output object: ``{Name, Status, MetaData, Media}``."""
        return {"Name": self.name, "Status": self.status, "MetaData": self.metadata, "Media": self.media}

    def update_workflow_status(self, status: str) -> None:
        """Set the output's ``Status``."""
        self.status = status

    def add_workflow_metadata(self, **kwargs: Any) -> None:
        """Add key/value pairs to the output ``MetaData``."""
        for key, value in kwargs.items():
            self.metadata.update({key: value})

    def add_media_object(self, media_type: str, s3_bucket: str, s3_key: str) -> None:
        """Name a media object in the output ``Media``."""
        self.media[media_type] = {"S3Bucket": s3_bucket, "S3Key": s3_key}


class MasExecutionError(Exception):
    """Raised by an operator with its output object as the argument.

    The engine matches it by class name, as MIE's state machine did: it is retried (twice, with backoff), and when
    retries run out the ``*Error`` keys of ``args[0]["MetaData"]`` are kept in the failed output and the execution's
    ``Message`` (MIE lost them).
    """


class DataPlane:
    """Calls the data-plane API: in-process inside the engine, else over HTTP to ``mie serve``.

    ``DataPlane()`` takes no argument in MIE and so here; ``url``/``api_key`` are optional additions that force HTTP
    to a given server (the ``/api/dataplane`` base URL or the server root).
    """

    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        """Read the HTTP settings now, as MIE read ``DataplaneEndpoint`` in its constructor."""
        self._forced_http = url is not None
        self.dataplane_url = _dataplane_base(url) if url is not None else _env_dataplane_url()
        self.api_key = api_key if api_key is not None else os.environ.get("MIE_API_KEY")
        # An instance created during an operator call keeps its runtime, so calls from threads the operator starts
        # (which do not inherit the context variable) still go in-process. Runtimes of one process share one data
        # plane, so a module-level instance reused by a later call reaches the same one.
        self._runtime: Runtime | None = current_runtime()

    def call_dataplane(  # noqa: PLR0917 -- MIE's positional signature
        self,
        path: str,
        resource: str,
        method: str,
        body: Any = None,
        path_params: Mapping[str, str] | None = None,
        query_params: Mapping[str, str] | None = None,
    ) -> Any:
        """Call one data-plane route and return its parsed response body, whatever its HTTP status.

        ``path`` is the concrete path (``/metadata/<id>``), ``resource`` its template (``/metadata/{asset_id}``),
        as in MIE's API-Gateway proxy event. ``body`` is serialised to JSON first, so a result that is not
        JSON-serialisable raises ``TypeError`` in the caller, as in MIE.
        """
        encoded = json.dumps(body)
        runtime = None if self._forced_http else current_runtime() or self._runtime
        if runtime is not None:
            return _call_local(runtime.dataplane, path, resource, method.upper(), encoded, path_params, query_params)
        return self._call_http(path, method.upper(), encoded if body is not None else None, query_params)

    def _call_http(self, path: str, method: str, encoded: str | None, query_params: Mapping[str, str] | None) -> Any:
        url = self.dataplane_url + path
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        try:
            response = httpx.request(
                method, url, params=dict(query_params or {}), content=encoded, headers=headers, timeout=HTTP_TIMEOUT
            )
        except httpx.HTTPError as exc:
            # MIE's boto3 invoke raised on transport failures too; say where we tried and how to point elsewhere.
            raise ConnectionError(
                f"cannot reach the MIE data plane at {url} ({type(exc).__name__}: {exc}); "
                "set MIE_URL to the server's address"
            ) from exc
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            # MIE's json.loads of the body would raise a ValueError (JSONDecodeError) here as well.
            text = " ".join(response.text.split())[:200]
            raise ValueError(
                f"the MIE data plane at {url} answered {response.status_code} with a body that is not JSON: {text}"
            ) from exc

    def create_asset(
        self,
        *args: str,
        media_type: str | None = None,
        s3bucket: str | None = None,
        s3key: str | None = None,
    ) -> Any:
        """``POST /create``: make an uploaded object an asset.

        Both MIE signatures work: ``create_asset(s3bucket, s3key)`` (v2) and ``create_asset(media_type, s3bucket,
        s3key)`` (v4+). With one positional argument it is the bucket unless ``s3bucket`` is given by name.
        """
        named = (media_type, s3bucket, s3key)
        if len(args) > 3 or (len(args) == 3 and named != (None, None, None)):
            raise TypeError(_CREATE_ASSET_USAGE)
        if len(args) == 3:
            media_type, s3bucket, s3key = args
        elif len(args) == 2:
            if s3bucket is not None or s3key is not None:
                raise TypeError(_CREATE_ASSET_USAGE)
            s3bucket, s3key = args
        elif len(args) == 1:
            if s3bucket is None:
                s3bucket = args[0]
            elif media_type is None:
                media_type = args[0]
            else:
                raise TypeError(_CREATE_ASSET_USAGE)
        if s3bucket is None or s3key is None:
            raise TypeError(_CREATE_ASSET_USAGE)
        inputs: dict[str, Any] = {"S3Bucket": s3bucket, "S3Key": s3key}
        if media_type is not None:
            inputs["MediaType"] = media_type
        return self.call_dataplane("/create", "/create", "POST", {"Input": inputs})

    def store_asset_metadata(  # noqa: PLR0917 -- MIE's positional signature
        self,
        asset_id: str,
        operator_name: str,
        workflow_id: str,
        results: Any,
        paginate: bool = False,
        end: bool = False,
    ) -> Any:
        """``POST /metadata/{asset_id}``: store an operator's results (a dict).

        A single result: no flags → ``{"Status": "Success", "Bucket", "Key"}``. Paged results: every page but the
        last with ``paginate=True`` → ``{"Status": "Success"}``, the last with ``paginate=True, end=True``, which
        makes the whole set readable. The query is built exactly as MIE did (``end`` alone is refused by the API).
        """
        path = f"/metadata/{asset_id}"
        body = {"OperatorName": operator_name, "Results": results, "WorkflowId": workflow_id}
        query: dict[str, str] | None = None
        if paginate or end:
            query = {}
            # ``is True``, as MIE: a truthy non-bool flag sends an empty query (a plain, whole-result store).
            if paginate is True:
                query["paginated"] = "true"
            if end is True:
                query["end"] = "true"
        return self.call_dataplane(path, "/metadata/{asset_id}", "POST", body, {"asset_id": asset_id}, query)

    def retrieve_asset_metadata(
        self, asset_id: str, operator_name: str | None = None, cursor: str | None = None
    ) -> Any:
        """``GET /metadata/{asset_id}[/{operator_name}][?cursor=...]``: one response of the cursor walk.

        Callers loop while ``"cursor" in response``, passing it back.
        """
        if operator_name:
            path = f"/metadata/{asset_id}/{operator_name}"
            resource = "/metadata/{asset_id}/{operator_name}"
            params = {"asset_id": asset_id, "operator_name": operator_name}
        else:
            path = f"/metadata/{asset_id}"
            resource = "/metadata/{asset_id}"
            params = {"asset_id": asset_id}
        query = {"cursor": cursor} if cursor else None
        return self.call_dataplane(path, resource, "GET", None, params, query)

    def generate_media_storage_path(self, asset_id: str, workflow_id: str) -> Any:
        """``GET /mediapath/{asset_id}/{workflow_id}``: ``{"S3Bucket", "S3Key": "private/assets/<a>/workflows/<w>/"}``,
        where an operator writes derived media (through the object store; MIE wrote to S3 with boto3)."""
        return self.call_dataplane(
            f"/mediapath/{asset_id}/{workflow_id}",
            "/mediapath/{asset_id}/{workflow_id}",
            "GET",
            None,
            {"asset_id": asset_id, "workflow_id": workflow_id},
        )


_CREATE_ASSET_USAGE = "create_asset() takes (s3bucket, s3key) or (media_type, s3bucket, s3key)"


def _dataplane_base(url: str) -> str:
    """The ``/api/dataplane`` base URL from a server root, an ``.../api`` URL or the data-plane URL itself."""
    url = url.rstrip("/")
    if url.endswith("/api/dataplane"):
        return url
    if url.endswith("/api"):
        return url + "/dataplane"
    return url + "/api/dataplane"


def _env_dataplane_url() -> str:
    # MIE's DataplaneEndpoint named a Lambda function; an http(s) URL there is taken as the data-plane address, so
    # an operator's existing environment can point at a server. Otherwise MIE_URL (the server root) decides.
    endpoint = os.environ.get("DataplaneEndpoint", "")  # noqa: SIM112 -- MIE's variable name
    if endpoint.startswith(("http://", "https://")):
        return _dataplane_base(endpoint)
    return _dataplane_base(os.environ.get("MIE_URL") or DEFAULT_MIE_URL)


# In-process calls -------------------------------------------------------------------------------------------------
#
# The routes below mirror src/mie/api/dataplane.py (same validation, same service calls, same error body), so an
# operator sees the same answers in-process as over HTTP.

_Route = Callable[["LocalDataPlane", dict[str, str], Any, Mapping[str, str]], Any]


def _error_body(code: str, message: str) -> dict[str, str]:
    # The API's body shape (mie.api.errors.error_response, Chalice's): the code is repeated in the message.
    return {"Code": code, "Message": f"{code}: {message}"}


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise InvalidError(f"Query param {name} only supports a value of: true or false")
    return value.lower() == "true"


def _store_metadata(dp: LocalDataPlane, params: dict[str, str], body: Any, query: Mapping[str, str]) -> Any:
    if query and "paginated" not in query:
        raise InvalidError("Must pass required query parameter: paginated")
    paginated = _flag(query.get("paginated"), "paginated")
    end = _flag(query.get("end"), "end")
    if end and not paginated:
        raise InvalidError("Query param end is only valid with paginated=true")
    return dp.store_metadata(params["asset_id"], body, paginated=paginated, end=end)


def _create(dp: LocalDataPlane, params: dict[str, str], body: Any, query: Mapping[str, str]) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("Input"), dict):
        raise InvalidError("Missing required inputs for asset creation: 'Input'")
    inp = body["Input"]
    return dp.create_asset(inp.get("S3Bucket"), inp.get("S3Key"), inp.get("MediaType"))


def _checkout(dp: LocalDataPlane, params: dict[str, str], body: Any, query: Mapping[str, str]) -> Any:
    return dp.checkout(params["asset_id"], body.get("LockedBy") if isinstance(body, dict) else None)


def _http_only(what: str) -> _Route:
    def route(dp: LocalDataPlane, params: dict[str, str], body: Any, query: Mapping[str, str]) -> Any:
        return _error_body(
            "NotImplementedError",
            f"{what} is not available in-process; call the server over HTTP (DataPlane(url=...))",
        )

    return route


_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/"): lambda dp, p, b, q: {"hello": "world"},
    ("GET", "/version"): lambda dp, p, b, q: {
        "ApiVersion": mie.DATAPLANE_API_VERSION,
        "FrameworkVersion": f"v{mie.__version__}",
    },
    ("GET", "/mediapath/{asset_id}/{workflow_id}"): lambda dp, p, b, q: dp.media_path(p["asset_id"], p["workflow_id"]),
    ("POST", "/create"): _create,
    ("POST", "/metadata/{asset_id}"): _store_metadata,
    ("GET", "/metadata"): lambda dp, p, b, q: {"assets": dp.list_assets()[0]},
    ("GET", "/metadata/{asset_id}"): lambda dp, p, b, q: dp.get_metadata(p["asset_id"], q.get("cursor")),
    ("GET", "/metadata/{asset_id}/{operator_name}"): lambda dp, p, b, q: dp.get_operator_metadata(
        p["asset_id"], p["operator_name"], q.get("cursor")
    ),
    ("DELETE", "/metadata/{asset_id}/{operator_name}"): lambda dp, p, b, q: dp.delete_operator_metadata(
        p["asset_id"], p["operator_name"]
    ),
    # Deleting an asset first cancels its executions, which is the engine's business, not the data plane's.
    ("DELETE", "/metadata/{asset_id}"): _http_only("Deleting an asset"),
    # Signed URLs embed the server's public address, which only the API knows.
    ("POST", "/upload"): _http_only("/upload"),
    ("POST", "/download"): _http_only("/download"),
    ("POST", "/checkout/{asset_id}"): _checkout,
    ("POST", "/checkin/{asset_id}"): lambda dp, p, b, q: dp.checkin(p["asset_id"]),
    ("GET", "/checkouts"): lambda dp, p, b, q: dp.checkouts(),
}


def _path_params(resource: str, path: str) -> dict[str, str] | None:
    """The ``{name}`` values of ``resource`` in ``path`` (None when the path does not fit the template)."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
    match = re.fullmatch(pattern, path)
    return None if match is None else {k: unquote(v) for k, v in match.groupdict().items()}


def _call_local(  # noqa: PLR0917 -- the parts of one call_dataplane request
    dp: LocalDataPlane,
    path: str,
    resource: str,
    method: str,
    encoded_body: str,
    path_params: Mapping[str, str] | None,
    query_params: Mapping[str, str] | None,
) -> Any:
    route = _ROUTES.get((method, resource))
    params = dict(path_params) if path_params else _path_params(resource, path)
    if route is None or params is None:
        return _error_body("NotFoundError", f"no data-plane route {method} {resource} (path {path})")
    # The body goes through JSON as over HTTP: the service never shares objects with the operator.
    body = json.loads(encoded_body)
    try:
        result = route(dp, params, body, dict(query_params or {}))
    except MieError as exc:
        return _error_body(exc.code, exc.message)
    except Exception as exc:  # the API answers 500 for anything else; the operator decides what to do with it
        log.exception("in-process data-plane call %s %s failed", method, path)
        return _error_body("InternalServerError", f"{type(exc).__name__}: {exc}")
    return json.loads(json.dumps(result))
