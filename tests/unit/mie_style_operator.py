"""Operators written the way MIE's are (source/operators/mediainfo/mediainfo.py, rekognition/check_*_status.py,
GenericDataLookup), using only ``MediaInsightsEngineLambdaHelper``: they must run unchanged on this engine.

Referenced as ``python:tests.unit.mie_style_operator:<handler>``. Where the MIE originals call AWS (pymediainfo on a
presigned S3 URL, Rekognition ``get_label_detection``) these compute stand-in results from the event, so the helper
usage is what gets tested. The structure, names and control flow are kept as in MIE on purpose.
"""

from __future__ import annotations

import threading
from typing import Any

from MediaInsightsEngineLambdaHelper import DataPlane, MasExecutionError, MediaInsightsOperationHelper, OutputHelper

#: Calls per ``<handler>:<WorkflowExecutionId>`` (the engine runs handlers in threads of the test process).
CALLS: dict[str, int] = {}
_lock = threading.Lock()


def _count(name: str, event: dict[str, Any]) -> int:
    with _lock:
        key = f"{name}:{event.get('WorkflowExecutionId')}"
        CALLS[key] = CALLS.get(key, 0) + 1
        return CALLS[key]


def parse_media_info(bucket: str, key: str, configuration: dict[str, Any]) -> dict[str, Any]:
    """Stands in for ``json.loads(MediaInfo.parse(signed_url).to_json())``."""
    tracks: list[dict[str, Any]] = [{"track_type": "General", "complete_name": f"s3://{bucket}/{key}"}]
    tracks += [{"track_type": kind} for kind in configuration.get("Tracks", ["Video", "Audio"])]
    return {"tracks": tracks}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """MIE's Mediainfo operator, line for line where it does not touch AWS."""
    print("We got the following event:\n", event)
    operator_object = MediaInsightsOperationHelper(event)
    _count("lambda_handler", event)

    try:
        workflow_id = str(operator_object.workflow_execution_id)
        bucket = operator_object.input["Media"]["Video"]["S3Bucket"]
        key = operator_object.input["Media"]["Video"]["S3Key"]
    except KeyError as e:
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(MediaconvertError=f"Missing a required metadata key {e}")
        raise MasExecutionError(operator_object.return_output_object()) from e

    # Adding in exception block for now since we aren't guaranteed an asset id will be present, should remove later
    try:
        asset_id = operator_object.asset_id
    except KeyError as e:
        print("No asset id passed in with this workflow", e)
        asset_id = ""

    # Get metadata
    try:
        if "FailWith" in operator_object.configuration:
            raise RuntimeError(operator_object.configuration["FailWith"])
        metadata_json = parse_media_info(bucket, key, operator_object.configuration)
    except Exception as e:
        print("Exception:\n", e)
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(MediainfoError="Unable to get Mediainfo results. " + str(e))
        raise MasExecutionError(operator_object.return_output_object()) from e

    # Verify that the metadata is a dict, as required by the dataplane
    if not isinstance(metadata_json, dict):
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(
            MediainfoError="Metadata must be of type dict. Found " + str(type(metadata_json)) + " instead."
        )
        raise MasExecutionError(operator_object.return_output_object())

    # Pass metadata to downstream operators
    # Number of audio tracks is used by the Transcribe operator
    num_audio_tracks = len([i for i in metadata_json["tracks"] if i["track_type"] == "Audio"])
    operator_object.add_workflow_metadata(Mediainfo_num_audio_tracks=str(num_audio_tracks))

    # Save metadata to dataplane
    operator_object.add_workflow_metadata(AssetId=asset_id, WorkflowExecutionId=workflow_id)
    dataplane = DataPlane()
    metadata_upload = dataplane.store_asset_metadata(asset_id, operator_object.name, workflow_id, metadata_json)

    # Validate that the metadata was saved to the dataplane
    if "Status" not in metadata_upload:
        operator_object.add_workflow_metadata(MediainfoError=f"Unable to upload metadata for asset: {asset_id}")
        operator_object.update_workflow_status("Error")
        raise MasExecutionError(operator_object.return_output_object())
    # Update the workflow status
    if metadata_upload["Status"] == "Success":
        print(f"Uploaded metadata for asset: {asset_id}")
        operator_object.update_workflow_status("Complete")
        return operator_object.return_output_object()
    operator_object.add_workflow_metadata(MediainfoError=f"Unable to upload metadata for asset: {asset_id}")
    operator_object.update_workflow_status("Error")
    raise MasExecutionError(operator_object.return_output_object())


def start_label_detection(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Rekognition-style async start: hands a job id (and the ids the monitor needs) on in MetaData."""
    operator_object = MediaInsightsOperationHelper(event)
    try:
        operator_object.input["Media"]["Video"]["S3Key"]
    except KeyError as e:
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(LabelDetectionError=f"No valid inputs {e}")
        raise MasExecutionError(operator_object.return_output_object()) from e
    operator_object.update_workflow_status("Executing")
    operator_object.add_workflow_metadata(
        JobId="job-" + operator_object.workflow_execution_id,
        AssetId=operator_object.asset_id,
        WorkflowExecutionId=operator_object.workflow_execution_id,
    )
    return operator_object.return_output_object()


def get_label_detection(job_id: str, page: int, pages: int) -> dict[str, Any]:
    """Stands in for ``rek.get_label_detection(JobId=..., NextToken=...)``: one service page."""
    response: dict[str, Any] = {
        "JobStatus": "SUCCEEDED",
        "Labels": [{"Timestamp": page * 1000, "Label": {"Name": f"label-{page}", "Confidence": 90.5}}],
    }
    if page + 1 < pages:
        response["NextToken"] = f"{job_id}:{page + 1}"
    return response


def check_label_detection_status(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """MIE's Rekognition monitor loop: a page per service page, ``paginate=True`` while there is a NextToken,
    ``end=True`` on the last; at most ``PagesPerCall`` pages per call, continuing from ``PageToken``."""
    operator_object = MediaInsightsOperationHelper(event)
    # If the status is already Error, then raise Error
    if operator_object.status == "Error":
        raise MasExecutionError(operator_object.return_output_object())
    try:
        job_id = operator_object.metadata["JobId"]
        workflow_id = operator_object.workflow_execution_id
        asset_id = operator_object.asset_id
    except KeyError as e:
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(LabelDetectionError=f"Missing a required metadata key {e}")
        raise MasExecutionError(operator_object.return_output_object()) from e

    pages = int(operator_object.configuration.get("Pages", 3))
    per_call = int(operator_object.configuration.get("PagesPerCall", 10))
    page = int(operator_object.metadata["PageToken"].split(":")[1]) if "PageToken" in operator_object.metadata else 0
    dataplane = DataPlane()
    for _ in range(per_call):
        response = get_label_detection(job_id, page, pages)
        if "NextToken" in response:
            metadata_upload = dataplane.store_asset_metadata(
                asset_id, operator_object.name, workflow_id, response, paginate=True
            )
        else:
            metadata_upload = dataplane.store_asset_metadata(
                asset_id, operator_object.name, workflow_id, response, paginate=True, end=True
            )
        if "Status" not in metadata_upload or metadata_upload["Status"] != "Success":
            operator_object.update_workflow_status("Error")
            operator_object.add_workflow_metadata(LabelDetectionError=f"Unable to upload metadata: {metadata_upload}")
            raise MasExecutionError(operator_object.return_output_object())
        if "NextToken" not in response:
            operator_object.metadata.pop("PageToken", None)
            operator_object.update_workflow_status("Complete")
            return operator_object.return_output_object()
        page += 1
    # More pages than one call may write: come back with the token, as MIE's monitors do after page 10.
    operator_object.add_workflow_metadata(PageToken=response["NextToken"])
    operator_object.update_workflow_status("Executing")
    return operator_object.return_output_object()


def read_back(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An OutputHelper operator that reads everything earlier stages stored (WebCaptions' GetTranscript loop) and
    stores a summary of it."""
    operator_object = MediaInsightsOperationHelper(event)
    output_object = OutputHelper(operator_object.name)
    dataplane = DataPlane()
    asset_id = operator_object.asset_id
    seen: list[str] = []
    labels: list[str] = []
    response = dataplane.retrieve_asset_metadata(asset_id)
    while "cursor" in response:
        response = dataplane.retrieve_asset_metadata(asset_id, cursor=response["cursor"])
        seen.append(response["operator"])
        labels += [item["Label"]["Name"] for item in response["results"].get("Labels", [])]
    # One operator's pages, read on their own.
    pages = 0
    response = dataplane.retrieve_asset_metadata(asset_id, operator_name="labelDetection")
    pages += 1
    while "cursor" in response:
        response = dataplane.retrieve_asset_metadata(
            asset_id, operator_name="labelDetection", cursor=response["cursor"]
        )
        pages += 1
    media_path = dataplane.generate_media_storage_path(asset_id, operator_object.workflow_execution_id)
    summary = {"operators": seen, "labels": labels, "label_pages": pages, "media_path": media_path}
    stored = dataplane.store_asset_metadata(
        asset_id, operator_object.name, operator_object.workflow_execution_id, summary
    )
    if stored.get("Status") != "Success":
        output_object.update_workflow_status("Error")
        output_object.add_workflow_metadata(ReadBackError=str(stored))
        raise MasExecutionError(output_object.return_output_object())
    output_object.update_workflow_status("Complete")
    output_object.add_workflow_metadata(ReadBackPages=str(pages))
    output_object.add_media_object("Text", media_path["S3Bucket"], media_path["S3Key"] + "summary.json")
    return output_object.return_output_object()


def store_not_a_dict(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stores a list: the data plane refuses it and the helper hands back the error body (MIE operators test
    ``"Status" in resp``), which this operator turns into a MasExecutionError with the reason."""
    operator_object = MediaInsightsOperationHelper(event)
    resp = DataPlane().store_asset_metadata(
        operator_object.asset_id, operator_object.name, operator_object.workflow_execution_id, ["not", "a", "dict"]
    )
    if "Status" not in resp:
        operator_object.update_workflow_status("Error")
        operator_object.add_workflow_metadata(StoreError=resp["Message"])
        raise MasExecutionError(operator_object.return_output_object())
    operator_object.update_workflow_status("Complete")
    return operator_object.return_output_object()
