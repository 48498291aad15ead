"""``peopleRecognitionImage`` / ``peopleRecognition`` (ours): every face of the asset embedded and clustered into
the people of the whole library (``ctx.people``), so that a person named once is named on every asset where they
are seen.

Each face joins the person whose mean embedding is nearest within dlib's same-person distance (0.6), or starts a
new person. A re-run on an asset replaces the faces its earlier run stored (at-least-once execution never
duplicates). The stored result under ``peopleRecognition`` lists the named people in the shape of Rekognition
``RecognizeCelebrities`` (image) or ``GetCelebrityRecognition`` (video), which the search index reads, plus every
face with its PersonId (``People``); naming, merging or splitting people through ``/api/people`` stores it again.
See docs/operators-library/faces.md.
"""

from __future__ import annotations

from collections import defaultdict

from mie.errors import NotFoundError
from mie.library.media.frames import FRAMES_KIND
from mie.library.vision._common import batches, image_input, load_image, video_frames
from mie.library.vision.embeddings import embed_detected, embed_faces
from mie.library.vision.faces import ANALYSED_KEY, DETECT_SIDE
from mie.library.vision.faces import RESULT_NAME as FACES_RESULT
from mie.operators import OperatorContext, operator
from mie.operators.faces import SAME_PERSON_DISTANCE, EmbeddedFace, NewAssetFace, people_result
from mie.types import JSONDict

RESULT_NAME = "peopleRecognition"
BATCH = 4


def _new(face: EmbeddedFace, timestamp: int | None) -> NewAssetFace | None:
    if face.embedding is None:
        return None
    return NewAssetFace(face.embedding, face.detail["BoundingBox"], float(face.detail["Confidence"]), timestamp)


def _detected(ctx: OperatorContext, kind: str) -> list[JSONDict] | None:
    """The pages ``faceDetection`` stored for exactly this input (the same image, or the same sampled frames), when
    an earlier stage of this execution ran it (its output ``MetaData`` names the media it analysed); else None."""
    media = ctx.input_media.get(kind)
    analysed = ctx.input_metadata.get(ANALYSED_KEY)
    if not isinstance(media, dict) or not analysed or analysed != media.get("S3Key"):
        return None
    pages: list[JSONDict] = []
    cursor: str | None = None
    try:
        while True:
            response = ctx.dataplane.get_operator_metadata(ctx.asset_id, FACES_RESULT, cursor)
            pages.append(response.get("results") or {})
            cursor = response.get("cursor")
            if not cursor:
                return pages
    except NotFoundError:
        return None


def _store(ctx: OperatorContext, faces: list[NewAssetFace], *, video: bool) -> None:
    stored = ctx.people.replace_asset_faces(
        ctx.asset_id, RESULT_NAME, ctx.workflow_execution_id, faces, SAME_PERSON_DISTANCE
    )
    known = ctx.people.people([f.person_id for f in stored if f.person_id])
    names = {person_id: person.name for person_id, person in known.items()}
    ctx.save_results(people_result(stored, names, video=video), operator_name=RESULT_NAME)
    ctx.metadata["PeopleFaces"] = len(stored)
    ctx.metadata["People"] = len(known)


@operator(
    "peopleRecognitionImage",
    media_type="Image",
    description="Faces of the image clustered into the library's people (named ones listed as RecognizeCelebrities).",
    isolation="process",
    timeout=300,
)
def people_recognition_image(ctx: OperatorContext) -> None:
    """Cluster the image's faces into people; store the people seen under ``peopleRecognition``."""
    image = load_image(image_input(ctx), DETECT_SIDE)
    detected = _detected(ctx, "Image")
    found = embed_detected(image, detected[0].get("FaceDetails") or []) if detected else embed_faces(image)
    _store(ctx, [new for face in found if (new := _new(face, None)) is not None], video=False)


@operator(
    "peopleRecognition",
    media_type="Video",
    description="Faces of every sampled frame clustered into the library's people (named ones listed as "
    "GetCelebrityRecognition).",
    configuration={"FrameRate": 1.0},
    isolation="process",
)
def people_recognition(ctx: OperatorContext) -> None:
    """Cluster the faces of every sampled frame into people; store the people seen under ``peopleRecognition``."""
    frames = video_frames(ctx)
    detected = _detected(ctx, FRAMES_KIND)
    by_time: dict[int, list[JSONDict]] = defaultdict(list)
    for page in detected or []:
        for entry in page.get("Faces") or []:
            if isinstance(entry, dict) and isinstance(entry.get("Face"), dict):
                by_time[int(entry.get("Timestamp") or 0)].append(entry["Face"])
    faces: list[NewAssetFace] = []
    for batch in batches(ctx, frames, BATCH, "finding people"):
        for frame in batch:
            if detected is not None and frame.timestamp not in by_time:
                continue  # faceDetection saw no face on this frame: nothing to decode or embed
            image = load_image(frame.path, DETECT_SIDE)
            found = embed_faces(image) if detected is None else embed_detected(image, by_time[frame.timestamp])
            for face in found:
                new = _new(face, frame.timestamp)
                if new is not None:
                    faces.append(new)
    _store(ctx, faces, video=True)
