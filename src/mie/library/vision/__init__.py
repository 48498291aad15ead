"""Vision operators: image labels and objects, faces, on-screen text and (video) tracked people.

Each stores its result in the JSON shape of the AWS Rekognition call MIE used (``DetectLabels`` /
``GetLabelDetection``, ``DetectFaces`` / ``GetFaceDetection``, ``DetectText`` / ``GetTextDetection``,
``GetPersonTracking``, ``DetectModerationLabels`` / ``GetContentModeration``, ``SearchFacesByImage`` /
``GetFaceSearch``, ``RecognizeCelebrities`` / ``GetCelebrityRecognition``), under the video operator's name as
MIE did. See docs/operators-library/vision.md, faces.md and moderation.md.
"""

from __future__ import annotations

from mie.library.vision.faces import face_detection, face_detection_image
from mie.library.vision.labels import label_detection, label_detection_image
from mie.library.vision.moderation import content_moderation, content_moderation_image
from mie.library.vision.people import people_recognition, people_recognition_image
from mie.library.vision.persons import person_tracking
from mie.library.vision.recognition import (
    celebrity_recognition,
    celebrity_recognition_image,
    face_search,
    face_search_image,
)
from mie.library.vision.text import text_detection, text_detection_image
from mie.operators import OperatorDefinition, OperatorRegistry

#: Every operator of this library.
OPERATORS: tuple[OperatorDefinition, ...] = (
    label_detection_image,
    label_detection,
    face_detection_image,
    face_detection,
    text_detection_image,
    text_detection,
    person_tracking,
    content_moderation_image,
    content_moderation,
    face_search_image,
    face_search,
    celebrity_recognition_image,
    celebrity_recognition,
    people_recognition_image,
    people_recognition,
)


def register(registry: OperatorRegistry) -> None:
    """Register the vision operators (the ``mie.operators`` entry point of this library)."""
    for definition in OPERATORS:
        registry.register(definition)
