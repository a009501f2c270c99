"""Production refuses to start with a secret unset, published in the repository, or too short."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.config import InsecureConfiguration, Settings, check_production_secrets

STRONG = "x" * 40


def _settings(**values: Any) -> Settings:
    base = Settings()
    fields = {
        "service_token_secret": STRONG,
        "export_token_secret": STRONG,
        "db_app_password": STRONG,
        "db_owner_password": STRONG + "y",
        "environment": "production",
        **values,
    }
    return dataclasses.replace(base, **fields)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("export_token_secret", "", "not set"),
        ("export_token_secret", "dev-export-secret-change-me-in-production!", "published"),
        ("service_token_secret", "dev-service-secret-change-me-in-production", "published"),
        ("service_token_secret", "short-secret", "at least 32"),
        ("db_app_password", "app-dev-password", "published"),
        ("db_owner_password", "change-me-owner-password", "published"),
    ],
)
def test_each_weak_secret_is_refused_by_name(field: str, value: str, reason: str) -> None:
    name = field.upper()
    with pytest.raises(InsecureConfiguration) as exc:
        check_production_secrets(_settings(**{field: value}), (name,))
    assert name in str(exc.value) and reason in str(exc.value)


def test_strong_secrets_pass_and_development_is_not_checked() -> None:
    names = ("SERVICE_TOKEN_SECRET", "EXPORT_TOKEN_SECRET", "DB_APP_PASSWORD", "DB_OWNER_PASSWORD")
    check_production_secrets(_settings(), names)
    check_production_secrets(_settings(environment="development", export_token_secret="short"), names)


def test_the_gateway_will_not_start_with_the_default_export_secret() -> None:
    from services.gateway.app import create_app

    with pytest.raises(InsecureConfiguration, match="EXPORT_TOKEN_SECRET"):
        create_app(_settings(export_token_secret="dev-export-secret-change-me-in-production!"))
