"""`uvicorn policysite.collector.asgi:app`: the path deployments have used for the ASGI app,
kept working. The app lives in policysite.collector.http.asgi (docs/collector.md)."""

from policysite.collector.http.asgi import app, create_app

__all__ = ["app", "create_app"]
