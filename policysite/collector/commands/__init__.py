"""The collector's commands for operators: `collector` (uvicorn and the writer process) and
`consents export|stats|report|purge`, which read the store directly (no HTTP surface).

May import: collector.http, collector.core, shared.
"""
