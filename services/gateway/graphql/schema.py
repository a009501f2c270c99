"""The root schema: per-domain Query and Mutation classes merged, with abuse limits."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from services.gateway.graphql.activity import ActivityQuery
from services.gateway.graphql.analytics import AnalyticsQuery
from services.gateway.graphql.audit import AuditQuery
from services.gateway.graphql.catalogue import CatalogueMutation, CatalogueQuery
from services.gateway.graphql.custom_fields import CustomFieldsMutation, CustomFieldsQuery
from services.gateway.graphql.customers import CustomersQuery
from services.gateway.graphql.deliveries import BIG_INT, BigInt, DeliveriesQuery
from services.gateway.graphql.erasure import ErasureMutation
from services.gateway.graphql.errors import PublicError
from services.gateway.graphql.exports import ExportsMutation
from services.gateway.graphql.input_errors import InputErrorCodes
from services.gateway.graphql.insights import InsightsQuery
from services.gateway.graphql.mixpanel import MixpanelMutation, MixpanelQuery
from services.gateway.graphql.mongo_connections import MongoConnectionsMutation, MongoConnectionsQuery
from services.gateway.graphql.orders import OrdersMutation, OrdersQuery
from services.gateway.graphql.organisation import OrganisationMutation, OrganisationQuery
from services.gateway.graphql.report_schedules import ReportSchedulesMutation, ReportSchedulesQuery
from services.gateway.graphql.reports import ReportRunsMutation, ReportRunsQuery, ReportsMutation, ReportsQuery
from services.gateway.graphql.saved_insights import (
    SavedInsightsMutation,
    SavedInsightsQuery,
    SavedInsightsSubscription,
)
from services.gateway.graphql.segments import SegmentsMutation, SegmentsQuery
from services.gateway.graphql.subscriptions import Subscription as LiveSubscription
from services.gateway.graphql.teams import TeamsMutation, TeamsQuery
from shared import logging as slog

Query = merge_types(
    "Query",
    (
        OrganisationQuery,
        CatalogueQuery,
        CustomersQuery,
        OrdersQuery,
        DeliveriesQuery,
        AuditQuery,
        AnalyticsQuery,
        ActivityQuery,
        InsightsQuery,
        SavedInsightsQuery,
        TeamsQuery,
        CustomFieldsQuery,
        ReportsQuery,
        ReportRunsQuery,
        ReportSchedulesQuery,
        SegmentsQuery,
        MongoConnectionsQuery,
        MixpanelQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        OrganisationMutation,
        CatalogueMutation,
        OrdersMutation,
        ExportsMutation,
        ErasureMutation,
        SavedInsightsMutation,
        TeamsMutation,
        ReportsMutation,
        ReportRunsMutation,
        ReportSchedulesMutation,
        CustomFieldsMutation,
        SegmentsMutation,
        MongoConnectionsMutation,
        MixpanelMutation,
    ),
)
Subscription = merge_types("Subscription", (LiveSubscription, SavedInsightsSubscription))

logger = logging.getLogger("gateway.graphql")
MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000


def _should_mask(error: GraphQLError) -> bool:
    """Expected errors (bad input, not found, forbidden) and GraphQL's own validation stay visible."""
    original = error.original_error
    if original is None:
        return False
    if error.path is None and isinstance(original, GraphQLError):
        # A request error raised before any field ran, about the client's own input: variable
        # values that do not coerce (unknown enum value, bad date, missing required variable).
        # Unexpected exceptions wrapped by strawberry carry a non-GraphQL original and stay masked.
        return False
    return not isinstance(original, PublicError)


def _is_client_error(error: GraphQLError) -> bool:
    """The client's own mistake (bad input, not found, forbidden, a document that does not validate)."""
    original = error.original_error
    return original is None or isinstance(original, PublicError) or not _should_mask(error)


class Schema(strawberry.Schema):
    """Logs a client's mistakes once at INFO without a traceback; ERROR and tracebacks are for faults."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if _is_client_error(error):
                extensions = error.extensions or {}
                # A backing service being down is neither the client's fault nor a bug; the gateway's client
                # already warns once per dependency per interval, so each request's error is INFO here.
                slog.log(
                    logger,
                    logging.INFO,
                    "graphql client error",
                    code=extensions.get("code"),
                    field=extensions.get("field"),
                    error=error.message[:300],
                    path=".".join(map(str, error.path)) if error.path else None,
                )
            else:
                super().process_errors([error], execution_context)


def build_schema(production: bool) -> strawberry.Schema:
    # The limiters' validation rules are classes made when a limiter is constructed, and the
    # validation cache is keyed by the rule classes: build them once per schema, not per request,
    # or no validation is ever served from the cache.
    limit_rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    extensions: list[Any] = [
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Fresh extension objects per request; strawberry keeps the LRU caches themselves
        # shared per maxsize, so parsing and validation are cached across requests.
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        InputErrorCodes,  # after the cache: cached validation errors get their code too
    ]
    if production:
        extensions += [
            DisableIntrospection,
            lambda: MaskErrors(should_mask_error=_should_mask, error_message="Internal error"),
        ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={BigInt: BIG_INT}),
    )
