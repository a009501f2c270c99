"""A development OIDC issuer: a key pair, a JWKS endpoint and a command that mints user tokens.

It stands in for the real identity provider (e.g. Auth0) so the platform can be tried
and tested with nothing external. Tests use it as the local fake of that third party:
keys can be added and removed at run time to exercise rotation.

    python -m infra.dev_issuer serve --port 8090      # JWKS at /.well-known/jwks.json
    python -m infra.dev_issuer token --sub 'dev|admin' --email admin@demo-partner.example

For the browser dashboard it is also an OpenID Connect provider of the authorization code flow with PKCE
(what oidc-client-ts speaks to Auth0 or any provider), served beside the JWKS:

- `GET /.well-known/openid-configuration`: discovery (issuer, authorize, token, end-session, JWKS).
- `GET /authorize?response_type=code&client_id&redirect_uri&state&code_challenge&code_challenge_method=S256`:
  a page listing the users one may sign in as (`users`: the demo users of `./platform up`, plus any a test
  adds); choosing one redirects to `redirect_uri` with a one-time `code` (valid 60 s) and the `state`.
- `POST /token` (form-encoded): `grant_type=authorization_code` with the `code`, the same `redirect_uri` and
  `client_id`, and the `code_verifier` whose S256 digest is the challenge; or `grant_type=refresh_token`
  (the refresh token is rotated: each is good once, plus a reuse interval of DEV_ISSUER_REFRESH_REUSE seconds,
  default 30, as Auth0's rotation has: a page reloaded while its renewal was answered never stored the new token,
  and renews again with the one it had). Answers an access token (the same tokens as `token`
  mints: this issuer, the platform's audience, `access_ttl` seconds), an id token for the client, and a
  refresh token. Refusals are OAuth errors (`invalid_grant`, `invalid_request`, …) with status 400.
- `GET /logout?post_logout_redirect_uri=…`: forgets nothing (tokens are stateless), redirects back.

Answers carry `Access-Control-Allow-Origin: *`: the dashboard calls the token endpoint from its own origin.
Codes and refresh tokens live in memory: a restart signs everyone out at their next refresh.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8090


def data_dir() -> Path:
    """The platform's data folder, as `./platform up` uses it, wherever the command runs from."""
    return Path(os.environ.get("PLATFORM_DATA_DIR", ROOT / ".data")).resolve()


def local_port() -> int:
    return int(os.environ.get("DEV_ISSUER_PORT") or DEFAULT_PORT)


def local_issuer_url() -> str:
    """The issuer the running platform trusts: OIDC_ISSUER when set, else this machine's dev issuer."""
    return os.environ.get("OIDC_ISSUER") or f"http://127.0.0.1:{local_port()}/"


# Demo users of `./platform up` (demo/orders.py creates them): subject and email to mint tokens for.
DEMO_USERS = {
    "admin": ("dev|admin", "admin@demo-partner.example"),
    "member": ("dev|admin-member", "analyst@demo-partner.example"),
    "provider": ("dev|provider", "staff@fibrenet.example"),  # FibreNet's staff: they confirm its commissions
}


# Who each demo user is, for the sign-in page (demo/orders.py gives them these roles in the demo partner).
DEMO_USER_LABELS = {
    "admin": "Admin of Demo Partner",
    "member": "Member (analyst) of Demo Partner",
    "provider": "FibreNet staff (provider user)",
}
CODE_TTL_SECONDS = 60


@dataclass(frozen=True)
class SignInUser:
    """A user the sign-in page offers: subject and email as the tokens carry them, and a line saying who."""

    subject: str
    email: str
    label: str


@dataclass(frozen=True)
class _Grant:
    """What an authorization code (or a refresh token) was issued for."""

    user: SignInUser
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    expires: float


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def s256(verifier: str) -> str:
    """PKCE's S256: base64url(sha256(verifier)) without padding (RFC 7636 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


class DevIssuer:
    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer, self.audience = issuer, audience
        self.keys: dict[str, Any] = {}  # kid -> private key
        self.active_kid: str | None = None
        # The users the sign-in page lists, by key; tests add their tenants' users.
        self.users: dict[str, SignInUser] = {
            key: SignInUser(subject, email, DEMO_USER_LABELS.get(key, key))
            for key, (subject, email) in DEMO_USERS.items()
        }
        self.access_ttl = int(os.environ.get("DEV_ISSUER_ACCESS_TTL") or 3600)
        self.refresh_reuse = float(os.environ.get("DEV_ISSUER_REFRESH_REUSE") or 30)
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._used_refresh: dict[str, tuple[_Grant, float]] = {}  # rotated token -> (grant, reusable until)
        self._lock = threading.Lock()

    # --- authorization code + PKCE (the browser dashboard) -------------------------------------
    def authorize(self, params: dict[str, str], user_key: str) -> str:
        """The redirect after `user_key` signed in: `redirect_uri?code=…&state=…` (parameters checked first)."""
        for name in ("client_id", "redirect_uri", "code_challenge"):
            if not params.get(name):
                raise OAuthError("invalid_request", f"{name} is required")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256 (PKCE)")
        redirect = urlsplit(params["redirect_uri"])
        if redirect.scheme not in ("http", "https") or not redirect.netloc:
            raise OAuthError("invalid_request", "redirect_uri must be an absolute http(s) URL")
        user = self.users.get(user_key)
        if user is None:
            raise OAuthError("access_denied", f"unknown user {user_key!r}")
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            user=user,
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce") or None,
            scope=params.get("scope") or "openid",
            expires=time.time() + CODE_TTL_SECONDS,
        )
        with self._lock:
            self._codes[code] = grant
        query = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
        sep = "&" if redirect.query else "?"
        return f"{params['redirect_uri']}{sep}{urlencode(query)}"

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint: an authorization code with its PKCE verifier, or a refresh token."""
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                grant = self._codes.pop(form.get("code") or "", None)  # good once, whatever follows
            if grant is None or grant.expires < time.time():
                raise OAuthError("invalid_grant", "the code is unknown, used or expired")
            if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
                raise OAuthError("invalid_grant", "client_id or redirect_uri differ from the authorization request")
            verifier = form.get("code_verifier") or ""
            if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(s256(verifier), grant.code_challenge):
                raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
        elif grant_type == "refresh_token":
            presented, now = form.get("refresh_token") or "", time.time()
            with self._lock:
                self._used_refresh = {t: g for t, g in self._used_refresh.items() if g[1] > now}
                grant = self._refresh.pop(presented, None)  # rotated: good once, then within the reuse interval
                if grant is not None:
                    self._used_refresh[presented] = (grant, now + self.refresh_reuse)
                elif presented in self._used_refresh:
                    grant = self._used_refresh[presented][0]
            if grant is None or (form.get("client_id") and form.get("client_id") != grant.client_id):
                raise OAuthError("invalid_grant", "the refresh token is unknown or used")
        else:
            raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = grant
        user = grant.user
        id_claims: dict[str, Any] = {"aud": grant.client_id, "name": user.email}
        if grant.nonce:
            id_claims["nonce"] = grant.nonce
        return {
            "access_token": self.mint(user.subject, email=user.email, ttl=self.access_ttl),
            "id_token": self.mint(user.subject, email=user.email, ttl=self.access_ttl, claims=id_claims),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "scope": grant.scope,
        }

    def discovery(self, base: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "end_session_endpoint": f"{base}/logout",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    def sign_in_page(self, params: dict[str, str]) -> str:
        """The page of `GET /authorize`: one button per user, each posting the request back with its choice."""
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        buttons = "".join(
            f'<li><button name="user" value="{html.escape(key)}">{html.escape(u.email)}</button>'
            f"<span>{html.escape(u.label)}</span></li>"
            for key, u in self.users.items()
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            "<title>Sign in · development issuer</title><style>"
            "body{font:16px system-ui,sans-serif;margin:2rem auto;max-width:32rem;padding:0 1rem;color:#1a1a2e}"
            "ul{list-style:none;padding:0}li{margin:.75rem 0;display:flex;flex-direction:column;gap:.25rem}"
            "button{font:inherit;padding:.6rem 1rem;border:1px solid #1e5eff;border-radius:6px;background:#fff;"
            "color:#1e5eff;cursor:pointer;text-align:left}button:focus-visible{outline:3px solid #1a1a2e}"
            "span{color:#555;font-size:.875rem}</style></head><body><main>"
            "<h1>Sign in</h1><p>The platform's development issuer: choose a demo user to sign in as.</p>"
            f'<form method="post" action="/authorize">{hidden}<ul>{buttons}</ul></form></main></body></html>'
        )

    def add_key(self, alg: str = "RS256", kid: str | None = None, private_key: Any = None) -> str:
        kid = kid or uuid.uuid4().hex[:16]
        if private_key is None:
            private_key = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if alg == "RS256"
                else ec.generate_private_key(ec.SECP256R1())
            )
        self.keys[kid] = private_key
        self.active_kid = kid
        return kid

    def remove_key(self, kid: str) -> None:
        self.keys.pop(kid, None)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "ES256"
            jwk.update({"kid": kid, "use": "sig"})
            out.append(jwk)
        return {"keys": out}

    def mint(
        self,
        sub: str,
        *,
        email: str | None = None,
        email_verified: bool | None = True,
        ttl: int = 3600,
        kid: str | None = None,
        claims: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        kid = kid or self.active_kid
        assert kid is not None, "no signing key"
        key = self.keys[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        now = int(time.time())
        body: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + ttl}
        if email:
            # The gateway lets an email claim an invitation only when the issuer vouches for it; like Auth0
            # after a verified sign-up, the dev issuer does unless told otherwise (None: no claim at all).
            body["email"] = email
            if email_verified is not None:
                body["email_verified"] = email_verified
        body.update(claims or {})
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    # --- persistence, so tokens survive a restart of the platform -------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for kid, key in self.keys.items():
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path = directory / f"{kid}.pem"
            path.write_bytes(pem)
            path.chmod(0o600)

    @classmethod
    def load_or_create(cls, directory: Path, issuer: str, audience: str) -> DevIssuer:
        issuer_obj = cls(issuer, audience)
        for path in sorted(directory.glob("*.pem")) if directory.exists() else []:
            issuer_obj.add_key(kid=path.stem, private_key=serialization.load_pem_private_key(path.read_bytes(), None))
        if not issuer_obj.keys:
            issuer_obj.add_key()
            issuer_obj.save(directory)
        return issuer_obj

    # --- JWKS endpoint -------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Cache-Control", "no-store")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any) -> None:
                self._send(status, json.dumps(value).encode(), "application/json")

            def _query(self) -> dict[str, str]:
                return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

            def _form(self) -> dict[str, str]:
                length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                return {k: v[0] for k, v in parse_qs(raw).items()}

            def do_OPTIONS(self) -> None:  # CORS preflight (a client sending JSON or extra headers)
                self._send(
                    204,
                    b"",
                    "text/plain",
                    {"Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "content-type"},
                )

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                base = f"http://{self.headers.get('Host') or f'{host}:{server.server_port}'}"
                if path == "/.well-known/jwks.json":
                    self._json(200, issuer.jwks())
                elif path == "/.well-known/openid-configuration":
                    self._json(200, issuer.discovery(base))
                elif path == "/authorize":
                    page = issuer.sign_in_page(self._query())
                    self._send(200, page.encode(), "text/html; charset=utf-8")
                elif path == "/logout":
                    target = self._query().get("post_logout_redirect_uri", "")
                    if urlsplit(target).scheme in ("http", "https"):
                        self._send(302, b"", "text/plain", {"Location": target})
                    else:
                        self._send(200, b"Signed out.", "text/plain; charset=utf-8")
                elif path in ("/healthz", "/readyz"):
                    self._send(200, b'{"status":"ok"}', "application/json")
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                form = self._form()
                try:
                    if path == "/authorize":
                        user = form.pop("user", "")
                        self._send(302, b"", "text/plain", {"Location": issuer.authorize(form, user)})
                    elif path == "/token":
                        self._json(200, issuer.token(form))
                    else:
                        self._json(404, {"error": "not found"})
                except OAuthError as exc:
                    self._json(400, {"error": exc.error, "error_description": exc.description})

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="dev-issuer").start()
        return server


def main() -> None:
    from shared.config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=local_port())
    t = sub.add_parser("token", help="a token the running platform accepts (same issuer URL and keys)")
    t.add_argument("--user", choices=sorted(DEMO_USERS), default="admin", help="a demo user (default: admin)")
    t.add_argument("--sub", help="any other subject (with --email)")
    t.add_argument("--email")
    t.add_argument(
        "--email-unverified", action="store_true", help="email_verified: false (such a token claims no invitation)"
    )
    t.add_argument("--ttl", type=int, default=12 * 3600)
    args = parser.parse_args()
    issuer = DevIssuer.load_or_create(data_dir() / "dev-issuer", local_issuer_url(), settings.oidc_audience)
    if args.cmd == "token":
        subject, email = (args.sub, args.email) if args.sub else DEMO_USERS[args.user]
        print(issuer.mint(subject, email=email or None, email_verified=not args.email_unverified, ttl=args.ttl))
        return
    server = issuer.serve(port=args.port)
    print(f"dev issuer: JWKS at http://127.0.0.1:{server.server_port}/.well-known/jwks.json", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
