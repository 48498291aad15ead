"""The workflows installed on first start, with MIE's names and stage names (teardown §5.3).

Each stage lists the operators it runs when they are available; operators that are not installed are left out, and a
stage left empty is dropped. ``faceSearch`` needs a ``CollectionId`` (MIE's does too), so it is not in a default
stage; ``Mediaconvert`` and ``Polly`` are off in MIE's own defaults, so they are not either. ``peopleRecognition``
(ours) clusters the faces of every asset into people, in the stage after ``faceDetection`` (whose boxes it
embeds). Stage names are MIE's so that front ends and scripts written for MIE find what they expect.
"""

from __future__ import annotations

#: Workflow name -> ordered stages (stage name, operator names).
DEFAULT_WORKFLOWS: dict[str, list[tuple[str, list[str]]]] = {
    "CasVideoWorkflow": [
        ("defaultPrelimVideoStage", ["Thumbnail", "Mediainfo"]),
        (
            "defaultVideoStage",
            [
                "GenericDataLookup",
                "celebrityRecognition",
                "contentModeration",
                "faceDetection",
                "labelDetection",
                "personTracking",
                "textDetection",
                "technicalCueDetection",
                "shotDetection",
            ],
        ),
        # peopleRecognition runs after faceDetection, beside the transcription, so that it embeds the faces
        # faceDetection found instead of detecting them a second time.
        ("defaultAudioStage", ["TranscribeVideo", "peopleRecognition"]),
        (
            "defaultTextStage",
            ["Translate", "ComprehendKeyPhrases", "ComprehendEntities", "DetectSentiment", "WebCaptions"],
        ),
        ("defaultCaptionsStage", ["CreateSRTCaptions", "CreateVTTCaptions", "TranslateWebCaptions", "Topics"]),
    ],
    "CasImageWorkflow": [
        ("ValidationStage", ["MediainfoImage"]),
        (
            "RekognitionStage",
            [
                "celebrityRecognitionImage",
                "contentModerationImage",
                "faceDetectionImage",
                "labelDetectionImage",
                "textDetectionImage",
            ],
        ),
        ("PeopleStage", ["peopleRecognitionImage"]),
    ],
    # Stages are shared by name between workflows, so the audio workflow's transcription stage has its own name
    # (CasVideoWorkflow's defaultAudioStage runs TranscribeVideo); the text and caption stages are the same.
    "CasAudioWorkflow": [
        ("defaultAudioOnlyStage", ["TranscribeAudio"]),
        (
            "defaultTextStage",
            ["Translate", "ComprehendKeyPhrases", "ComprehendEntities", "DetectSentiment", "WebCaptions"],
        ),
        ("defaultCaptionsStage", ["CreateSRTCaptions", "CreateVTTCaptions", "TranslateWebCaptions", "Topics"]),
    ],
}

#: Marks workflows the engine installed (and may refresh when more operators become available).
INSTALLED_BY = "Installed by mie: the default analysis for this media type"
