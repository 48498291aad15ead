"""The HTTP API: MIE's workflow and data-plane routes on one ASGI app."""
