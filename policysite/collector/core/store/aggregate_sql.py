"""The queries behind Store.aggregate, written once for both stores.

Each store states only what its SQL spells differently: the UTC day of received_at, the
period's condition, and how a record's categories (its JSON choices) are walked and read.
Withdrawals and answers to a new version set each decision beside the one before it of the
same visitor (consent id), over all records: the one before may lie before the period.
"""

from __future__ import annotations

from typing import NamedTuple

from policysite.collector.core.store import TOP_PAGES


class AggregateQueries(NamedTuple):
    """In Aggregate's order: each query gives one of its fields."""

    decisions: str
    grants: str
    pages: str
    withdrawals: str
    answers_again: str


def aggregate_queries(
    *,
    day: str,
    period: str,
    each: str,
    granted_count: str,
    refused: str,
    granted_before: str,
) -> AggregateQueries:
    """`day`: received_at's UTC day (YYYY-MM-DD); `period`: the condition on received_at;
    `each`: the function that gives a JSON object's (key, value) rows, one a category, here
    aliased j; `granted_count`: how many of j's rows grant; `refused`: j's row refuses;
    `granted_before`: the decision before (`choices_before`) granted j's category."""
    groups = f"{day}, language, document, version"
    steps = (
        "WITH steps AS (SELECT received_at, document, version, action, choices,"
        " lag(choices) OVER visitor AS choices_before, lag(version) OVER visitor AS version_before"
        " FROM consents WINDOW visitor AS (PARTITION BY consent_id ORDER BY seq))"
    )
    return AggregateQueries(
        decisions=(
            f"SELECT {groups}, action, gpc, count(*), min(received_at), max(received_at) "
            f"FROM consents WHERE {period} GROUP BY 1, 2, 3, 4, 5, 6"
        ),
        grants=(
            f"SELECT {groups}, j.key, {granted_count} FROM consents, {each}(consents.choices) AS j"
            f" WHERE {period} GROUP BY 1, 2, 3, 4, 5"
        ),
        pages=(
            f"SELECT page, count(*) FROM consents WHERE {period} GROUP BY page ORDER BY 2 DESC, 1"
            f" LIMIT {TOP_PAGES}"
        ),
        withdrawals=(
            f"{steps} SELECT {day}, j.key, count(*) FROM steps, {each}(steps.choices) AS j"
            f" WHERE {period} AND {refused} AND {granted_before} GROUP BY 1, 2"
        ),
        answers_again=(
            f"{steps} SELECT document, version, action, count(*) FROM steps"
            f" WHERE {period} AND version_before IS NOT NULL AND version_before <> version"
            " GROUP BY 1, 2, 3"
        ),
    )
