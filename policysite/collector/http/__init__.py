"""The collector's HTTP side: `service` gives HTTP semantics (status, headers, CORS) to the
core without a framework; `asgi` is the thin adapter uvicorn serves.

May import: collector.core, shared.
"""
