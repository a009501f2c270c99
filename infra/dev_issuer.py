"""A development OIDC issuer: a key pair, a JWKS endpoint and a command that mints user tokens.

It stands in for the real identity provider (e.g. Auth0) so the platform can be tried
and tested with nothing external. Tests use it as the local fake of that third party:
keys can be added and removed at run time to exercise rotation.

    python -m infra.dev_issuer serve --port 8090      # JWKS at /.well-known/jwks.json
    python -m infra.dev_issuer token --sub 'dev|admin' --email admin@demo-partner.example
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class DevIssuer:
    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer, self.audience = issuer, audience
        self.keys: dict[str, Any] = {}  # kid -> private key
        self.active_kid: str | None = None

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
            def do_GET(self) -> None:
                if self.path.startswith("/.well-known/jwks.json"):
                    body, status = json.dumps(issuer.jwks()).encode(), 200
                elif self.path.startswith("/.well-known/openid-configuration"):
                    body = json.dumps(
                        {
                            "issuer": issuer.issuer,
                            "jwks_uri": f"http://{host}:{server.server_port}/.well-known/jwks.json",
                        }
                    ).encode()
                    status = 200
                elif self.path.startswith("/healthz") or self.path.startswith("/readyz"):
                    body, status = b'{"status":"ok"}', 200
                else:
                    body, status = b'{"error":"not found"}', 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
