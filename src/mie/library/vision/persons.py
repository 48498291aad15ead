"""``personTracking``: the people in a video, each with one index for as long as they are seen, in the shape of
Rekognition ``GetPersonTracking``.

The COCO detector (:mod:`.objects`) finds the persons on every sampled frame; ByteTrack (Roboflow's ``trackers``
package, Apache-2.0) links them across frames. Frames are sampled at about 1 fps (``FrameRate``, or the rate of
``Thumbnail``'s frames), thirty times fewer than ByteTrack's usual input, so it is tuned for that: a track starts
on the first confident sighting (not the second), survives a few seconds unseen, and is matched by distance-aware
IoU so a person who moved far between two samples is still found near where the motion model put them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mie.library.vision import objects
from mie.library.vision._common import (
    EntryPages,
    batches,
    load_image,
    require,
    video_frames,
    video_metadata,
)
from mie.operators import OperatorContext, operator
from mie.types import JSONDict

#: The operator's result key in the data plane.
RESULT_NAME = "personTracking"
PAGE_SIZE = 1000
BATCH = 8
#: Longest side a frame is decoded to (the detector scales to 300 x 300 anyway).
FRAME_SIDE = 1024
#: Persons at least this sure are given to the tracker; ByteTrack uses the unsure ones only to continue a track.
LOW_SCORE = 0.2
#: Persons at least this sure are matched first and may start a track.
HIGH_SCORE = 0.5
#: A track nobody was matched to for this long (seconds) ends; a person seen again later is a new index.
LOST_SECONDS = 3.0
#: Least distance-IoU (IoU less the normalised centre distance, -1..1) between a track's predicted box and a
#: detection for them to be the same person. Below zero: at 1 fps a walker's boxes in two frames may not overlap.
MIN_SIMILARITY = -0.2


def make_tracker(fps: float) -> Any:
    """A ByteTrack tracker tuned for frames sampled at ``fps``."""
    trackers = require("trackers", "personTracking")
    return trackers.ByteTrackTracker(
        # The buffer counts frames at 30 fps, whatever the frame rate (trackers' convention).
        lost_track_buffer=round(LOST_SECONDS * 30),
        frame_rate=fps,
        track_activation_threshold=HIGH_SCORE,
        # At 1 fps a second sighting is a second later: a track that waits for it loses the first frame.
        minimum_consecutive_frames=1,
        minimum_iou_threshold=MIN_SIMILARITY,
        high_conf_det_threshold=HIGH_SCORE,
        iou=trackers.DIoU(),
    )


class PersonTracker:
    """Persons of successive frames -> ``(timestamp, index, detection)`` sightings, with indices 0, 1, ... in
    order of first appearance.

    ByteTrack gives a new track its id only when the track is matched again, so the first sighting of everyone
    would be lost (a whole second at 1 fps). The tracker keeps the sighting that started each new track and
    reports it under the track's index once the track has one; a person seen on one sampled frame only is still a
    person (every track starts from a confident detection) and gets an index of its own.
    """

    def __init__(self, fps: float) -> None:
        self._numpy = require("numpy", "personTracking")
        self._sv = require("supervision", "personTracking")
        self._tracker = make_tracker(fps)
        #: id(tracklet) -> (tracklet, its first sighting), for tracks that have no id yet.
        self._pending: dict[int, tuple[Any, tuple[int, objects.Detection]]] = {}
        #: Sightings by track: tracker ids for confirmed tracks, negative keys for one-sighting tracks.
        self._sightings: list[tuple[int, int, objects.Detection]] = []

    def update(self, persons: Sequence[objects.Detection], timestamp: int) -> None:
        """Track the persons of the frame at ``timestamp`` (milliseconds; frames in time order)."""
        numpy = self._numpy
        boxes = numpy.array(
            [[p.left, p.top, p.left + p.width, p.top + p.height] for p in persons], dtype=numpy.float64
        ).reshape(-1, 4)
        detections = self._sv.Detections(
            xyxy=boxes,
            confidence=numpy.array([p.score for p in persons], dtype=numpy.float64),
            class_id=numpy.zeros(len(persons), dtype=int),
            data={"row": numpy.arange(len(persons))},
        )
        tracked = self._tracker.update(detections, timestamp=timestamp / 1000.0)
        rows = tracked.data.get("row", numpy.empty(0, dtype=int))
        for row, track in zip(rows, tracked.tracker_id, strict=True):
            if int(track) >= 0:
                self._sightings.append((timestamp, int(track), persons[int(row)]))
        # Tracks confirmed this frame: their first sighting belongs to them.
        for key, (tracklet, (first_time, first)) in list(self._pending.items()):
            if tracklet.tracker_id >= 0:
                self._sightings.append((first_time, int(tracklet.tracker_id), first))
                del self._pending[key]
        # Tracks started this frame: remember which detection started each (the track's box is that box).
        for tracklet in self._tracker.tracks:
            if tracklet.tracker_id < 0 and id(tracklet) not in self._pending:
                state = numpy.asarray(tracklet.get_state_bbox(), dtype=numpy.float64)
                distances = numpy.abs(boxes - state).sum(axis=1) if len(boxes) else numpy.empty(0)
                if len(distances) and float(distances.min()) < 1e-6:
                    self._pending[id(tracklet)] = (tracklet, (timestamp, persons[int(distances.argmin())]))

    def finish(self) -> list[tuple[int, int, objects.Detection]]:
        """Every sighting as ``(timestamp, index, detection)``, in time order then index order."""
        sightings = list(self._sightings)
        for number, (_tracklet, (first_time, first)) in enumerate(self._pending.values()):
            sightings.append((first_time, -1 - number, first))
        self._pending.clear()
        first_seen: dict[int, tuple[int, float]] = {}
        for timestamp, key, detection in sorted(sightings, key=lambda s: (s[0], s[2].left)):
            first_seen.setdefault(key, (timestamp, detection.left))
        order = sorted(first_seen, key=lambda key: first_seen[key])
        index = {key: number for number, key in enumerate(order)}
        found = [(timestamp, index[key], detection) for timestamp, key, detection in sightings]
        return sorted(found, key=lambda s: (s[0], s[1]))


@operator(
    "personTracking",
    media_type="Video",
    description="People tracked across sampled video frames (COCO detector + ByteTrack), each with one index, "
    "as Rekognition GetPersonTracking pages.",
    configuration={"FrameRate": 1.0},
    isolation="process",
)
def person_tracking(ctx: OperatorContext) -> None:
    """Detect and track the persons of every sampled frame; store ``{"Persons": [{"Timestamp", "Person"}]}``
    pages under ``personTracking``."""
    require("trackers", "personTracking")
    require("supervision", "personTracking")
    frames = video_frames(ctx)
    tracker = PersonTracker(frames.fps if frames.fps > 0 else 1.0)
    header: JSONDict = {"JobStatus": "SUCCEEDED", "VideoMetadata": video_metadata(frames)}
    for batch in batches(ctx, frames, BATCH, "tracking people"):
        for frame in batch:
            image = load_image(frame.path, FRAME_SIDE)
            tracker.update([d for d in objects.detect(image, LOW_SCORE) if d.name == "Person"], frame.timestamp)
    # Stored at the end: a track's first sighting is known to be its own only once the track is confirmed.
    with ctx.result_pages(operator_name=RESULT_NAME) as pages:
        entries = EntryPages(pages, "Persons", header, PAGE_SIZE)
        for timestamp, index, person in tracker.finish():
            entries.add({"Timestamp": timestamp, "Person": {"Index": index, "BoundingBox": person.bounding_box()}})
        entries.finish()
