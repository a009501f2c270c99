"""User tokens (OIDC, through the issuer's JWKS) and service-to-service tokens."""
