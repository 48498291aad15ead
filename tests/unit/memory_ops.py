"""Process-isolated operators for the worker memory limit (``MIE_WORKER_MEMORY_MB``), imported by worker processes."""

from __future__ import annotations

import resource
from typing import Any

from mie.operators import OperatorContext, operator


@operator("MemModels", media_type="Video", isolation="process")
def models(ctx: OperatorContext) -> dict[str, Any]:
    """Load and run torch, onnxruntime (open_nsfw) and dlib (its face detector) under the limit; report the limit."""
    import dlib
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    from mie.library.vision import moderation

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    product = float((torch.ones(256, 256) @ torch.ones(256, 256)).sum().item())
    photo = Image.fromarray(data.astronaut())
    nsfw = moderation.scores([photo])[0]
    faces = len(dlib.get_frontal_face_detector()(np.asarray(photo)))
    return {"LimitMiB": soft // 2**20 if soft != resource.RLIM_INFINITY else -1, "Torch": product,
            "Nsfw": nsfw, "DlibFaces": faces}  # fmt: skip


@operator("MemHogHuge", media_type="Video", isolation="process")
def hog_huge(ctx: OperatorContext) -> dict[str, Any]:
    """Ask for 16 GiB at once (a runaway decode)."""
    block = bytearray(16 * 2**30)
    return {"Got": len(block)}


@operator("MemHogSmall", media_type="Video", isolation="process")
def hog_small(ctx: OperatorContext) -> dict[str, Any]:
    """Ask for 64 MiB: well within the limit."""
    block = bytearray(64 * 2**20)
    return {"Got": len(block)}


ALL = [models, hog_huge, hog_small]
