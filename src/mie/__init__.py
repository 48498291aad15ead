"""Media Insights Engine: a self-hosted, offline re-implementation of AWS Media Insights Engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("media-insights-engine")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

#: The control-plane API version MIE v2 reports; clients compare it.
API_VERSION = "2.0.0"
#: The data-plane API version MIE reports.
DATAPLANE_API_VERSION = "1.0.0"

__all__ = ["API_VERSION", "DATAPLANE_API_VERSION", "__version__"]
