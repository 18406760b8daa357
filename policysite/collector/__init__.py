"""The consent collector (docs/collector.md): a framework-free core with thin adapters.

    core/       validation, policy, addresses, rate limits, the record, stores, group commit
    http/       service (HTTP semantics without a framework) and asgi (what uvicorn serves)
    commands/   `collector` and `consents …` for operators
    asgi.py     the ASGI app's old path, kept for deployments that name it

The preview server (policysite/serve/handlers.py) is the other adapter around the core.
"""
