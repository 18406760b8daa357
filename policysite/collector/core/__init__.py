"""The collector's core (docs/collector.md): validation, the policy it accepts, client
addresses, rate limits, the record and its receipt, the stores, and group commit (in this
process or through the SQLite writer process).

No web framework here: the HTTP side (policysite.collector.http) and the preview server
translate requests into calls of this core.

May import: shared.
"""
