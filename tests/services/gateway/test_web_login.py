"""Signing in to the dashboard as its OIDC client does (oidc-client-ts: authorization code + PKCE, then refresh)
against the development issuer (infra/dev_issuer.py), and the gateway accepting what it issues."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from infra.dev_issuer import DevIssuer, SignInUser
from tests.factories import gql

REDIRECT = "http://gateway.test/auth/callback"


@pytest.fixture
def served(issuer: DevIssuer) -> Iterator[str]:
    server = issuer.serve()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        issuer.users.pop("tenant-admin", None)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(base: str, user: str, challenge: str, **extra: str) -> httpx.Response:
    form = {
        "response_type": "code",
        "client_id": "partner-dashboard",
        "redirect_uri": REDIRECT,
        "state": "st-1",
        "nonce": "n-1",
        "scope": "openid email offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "user": user,
        **extra,
    }
    return httpx.post(f"{base}/authorize", data=form, follow_redirects=False)


def _code(r: httpx.Response) -> str:
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _token(base: str, **form: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"client_id": "partner-dashboard", "redirect_uri": REDIRECT, **form})


def test_discovery_names_the_flow_endpoints(issuer: DevIssuer, served: str) -> None:
    doc = httpx.get(f"{served}/.well-known/openid-configuration").json()
    assert doc["issuer"] == issuer.issuer
    assert doc["authorization_endpoint"] == f"{served}/authorize" and doc["token_endpoint"] == f"{served}/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert httpx.get(doc["jwks_uri"]).json() == issuer.jwks()


def test_the_sign_in_page_lists_the_demo_users(served: str) -> None:
    r = httpx.get(f"{served}/authorize", params={"client_id": "partner-dashboard", "redirect_uri": REDIRECT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for email in ("admin@demo-partner.example", "analyst@demo-partner.example", "staff@fibrenet.example"):
        assert email in r.text
    assert 'name="redirect_uri" value="http://gateway.test/auth/callback"' in r.text  # carried to the choice


async def test_code_pkce_and_refresh_give_tokens_the_gateway_accepts(
    issuer: DevIssuer, served: str, gateway: Any, tenant: Any
) -> None:
    email = f"admin-{tenant.admin_subject.split('|admin-')[1]}@example.com"  # as tests/factories.py adds them
    issuer.users["tenant-admin"] = SignInUser(tenant.admin_subject, email, "test admin")
    verifier, challenge = _pkce()
    code = _code(_authorize(served, "tenant-admin", challenge))

    # A wrong verifier is refused, and so is the code afterwards: it was good once.
    wrong = _token(served, grant_type="authorization_code", code=code, code_verifier=_pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wrong.headers["access-control-allow-origin"] == "*"
    again = _token(served, grant_type="authorization_code", code=code, code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    code = _code(_authorize(served, "tenant-admin", challenge))
    other_redirect = _token(
        served, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri="http://evil.test/cb"
    )
    assert other_redirect.status_code == 400 and other_redirect.json()["error"] == "invalid_grant"

    code = _code(_authorize(served, "tenant-admin", challenge))
    tokens = _token(served, grant_type="authorization_code", code=code, code_verifier=verifier).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == issuer.access_ttl
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_claims["aud"] == "partner-dashboard" and id_claims["nonce"] == "n-1"
    assert id_claims["sub"] == tenant.admin_subject
    me = await gql(gateway, "{ me { role organisationId } }", token=tokens["access_token"])
    assert me["data"]["me"] == {"role": "ADMIN", "organisationId": str(tenant.org_id)}

    refreshed = _token(served, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    me = await gql(gateway, "{ me { role } }", token=refreshed["access_token"])
    assert me["data"]["me"]["role"] == "ADMIN"
    # Rotated: good once, then again only within the reuse interval (a page reloaded while its renewal was
    # answered renews with the token it had), as Auth0's rotation allows.
    again = _token(served, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.status_code == 200 and again.json()["refresh_token"] != refreshed["refresh_token"]
    reuse, issuer.refresh_reuse = issuer.refresh_reuse, 0
    try:
        stale = _token(served, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
        assert stale.status_code == 200  # its first use
        used = _token(served, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
        assert used.status_code == 400 and used.json()["error"] == "invalid_grant"  # past the interval: refused
    finally:
        issuer.refresh_reuse = reuse


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"redirect_uri": "javascript:alert(1)"}, "invalid_request"),
        ({"user": "nobody"}, "access_denied"),
    ],
)
def test_bad_authorization_requests_are_refused(served: str, extra: dict[str, str], error: str) -> None:
    r = _authorize(served, extra.pop("user", "admin"), _pkce()[1], **extra)
    assert r.status_code == 400 and r.json()["error"] == error


def test_a_refused_grant_type(served: str) -> None:
    r = _token(served, grant_type="password", username="a", password="b")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
