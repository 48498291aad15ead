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

from mie.library.vision._common import batches, image_input, load_image, video_frames
from mie.library.vision.embeddings import embed_faces
from mie.library.vision.faces import DETECT_SIDE
from mie.operators import OperatorContext, operator
from mie.operators.faces import SAME_PERSON_DISTANCE, EmbeddedFace, NewAssetFace, people_result

RESULT_NAME = "peopleRecognition"
BATCH = 4


def _new(face: EmbeddedFace, timestamp: int | None) -> NewAssetFace | None:
    if face.embedding is None:
        return None
    return NewAssetFace(face.embedding, face.detail["BoundingBox"], float(face.detail["Confidence"]), timestamp)


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
    found = embed_faces(load_image(image_input(ctx), DETECT_SIDE))
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
    faces: list[NewAssetFace] = []
    for batch in batches(ctx, frames, BATCH, "finding people"):
        for frame in batch:
            for face in embed_faces(load_image(frame.path, DETECT_SIDE)):
                new = _new(face, frame.timestamp)
                if new is not None:
                    faces.append(new)
    _store(ctx, faces, video=True)
