"""Speech operators: transcription (``TranscribeVideo``, ``TranscribeAudio``) on faster-whisper, captions
(``WebCaptions``, ``CreateSRTCaptions``, ``CreateVTTCaptions``, ``WebToSRTCaptions``, ``WebToVTTCaptions``), and
speech synthesis (``Polly``, ``PollyWebCaptions``) with espeak-ng.

Importing this package does not import faster-whisper; the model loads on the first transcription in a process.
"""

from __future__ import annotations

from mie.library.speech.caption_ops import (
    create_srt_captions,
    create_vtt_captions,
    web_captions_operator,
    web_to_srt_captions,
    web_to_vtt_captions,
)

# Not ``import polly``: that name is the module (mie.library.speech.polly), which the operator must not shadow.
from mie.library.speech.polly import polly as polly_operator
from mie.library.speech.polly import polly_web_captions
from mie.library.speech.transcribe import transcribe_audio, transcribe_video
from mie.operators import OperatorDefinition, OperatorRegistry

OPERATORS: tuple[OperatorDefinition, ...] = (
    transcribe_video,
    transcribe_audio,
    web_captions_operator,
    create_srt_captions,
    create_vtt_captions,
    web_to_srt_captions,
    web_to_vtt_captions,
    polly_operator,
    polly_web_captions,
)


def register(registry: OperatorRegistry) -> None:
    """Register every speech operator."""
    for definition in OPERATORS:
        registry.register(definition)
