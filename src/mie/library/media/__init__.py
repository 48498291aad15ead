"""Media preparation operators: technical metadata, thumbnails and proxies, shots and technical cues.

``register(registry)`` registers them all; each module's docstring describes one operator, and
``docs/operators-library/media.md`` their configuration, output shapes and limits.
"""

from __future__ import annotations

from mie.library.media.cues import technical_cue_detection
from mie.library.media.frames import AUDIO16K_KIND, FRAMES_KIND, Frame, FrameSet
from mie.library.media.lookup import generic_data_lookup
from mie.library.media.mediainfo import mediainfo, mediainfo_image
from mie.library.media.shots import shot_detection
from mie.library.media.thumbnail import thumbnail
from mie.operators import OperatorDefinition, OperatorRegistry

#: Every operator of this library.
OPERATORS: tuple[OperatorDefinition, ...] = (
    mediainfo,
    mediainfo_image,
    thumbnail,
    shot_detection,
    technical_cue_detection,
    generic_data_lookup,
)

__all__ = ["AUDIO16K_KIND", "FRAMES_KIND", "OPERATORS", "Frame", "FrameSet", "register"]


def register(registry: OperatorRegistry) -> None:
    """Register every media-preparation operator with ``registry``."""
    for definition in OPERATORS:
        registry.register(definition)
