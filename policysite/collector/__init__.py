"""The consent collector (docs/collector.md): a framework-free core with thin adapters.

validation, policy, addresses, ratelimit and store know nothing of HTTP servers; service.py
turns them into HTTP semantics; asgi.py (uvicorn) and policysite/serve.py (tornado) only
translate requests and responses.
"""
