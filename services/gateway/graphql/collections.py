"""The documented collections' GraphQL input: which collection of `shared/collections.py`, for which days.

Downloads go through `requestExport(kind: COLLECTION, format: NDJSON | CSV, collectionInput)`; the collections
themselves (fields, types, meaning, indexes) are documented at `/docs`, from the same declarations.
"""

from __future__ import annotations

from typing import Any

import strawberry

from services.gateway.graphql.common import DateRangeInput
from shared.collections import NAMES


@strawberry.input(
    description="A documented collection for a date range: the documents whose time field falls in the range's "
    "days (in the organisation's time zone). Collections: " + ", ".join(NAMES) + " (see /docs)."
)
class CollectionInput:
    collection: str
    range: DateRangeInput

    def to_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "range": self.range.to_json()}
