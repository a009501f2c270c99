"""The root schema: per-domain Query and Mutation classes merged, with abuse limits."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (DisableIntrospection, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, ParserCache,
                                   QueryDepthLimiter, ValidationCache)
from strawberry.tools import merge_types

from services.gateway.graphql.catalogue import CatalogueMutation, CatalogueQuery
from services.gateway.graphql.customers import CustomersQuery
from services.gateway.graphql.errors import PublicError
from services.gateway.graphql.exports import ExportsMutation
from services.gateway.graphql.orders import OrdersMutation, OrdersQuery
from services.gateway.graphql.organisation import OrganisationMutation, OrganisationQuery

Query = merge_types("Query", (OrganisationQuery, CatalogueQuery, CustomersQuery, OrdersQuery))
Mutation = merge_types("Mutation", (OrganisationMutation, CatalogueMutation, OrdersMutation, ExportsMutation))

MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors (bad input, not found, forbidden) and GraphQL's own validation stay visible."""
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, PublicError)


def build_schema(production: bool) -> strawberry.Schema:
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Fresh extension objects per request; strawberry keeps the LRU caches themselves
        # shared per maxsize, so parsing and validation are cached across requests.
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ]
    if production:
        extensions += [DisableIntrospection,
                       lambda: MaskErrors(should_mask_error=_should_mask, error_message="Internal error")]
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)
