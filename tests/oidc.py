"""An OpenID Connect provider of the tests' own, on 127.0.0.1: discovery document,
authorization (the user the test chose signs in at once), token endpoint issuing an
RS256-signed ID token, JWKS and userinfo. Authorization-code flow with PKCE (S256),
as Streamlit's ``st.login`` uses it; nothing leaves this machine."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "flankwatch-tests"
CLIENT_SECRET = "not-a-real-secret-but-a-long-one"


@dataclass
class User:
    email: str
    name: str
    groups: tuple[str, ...] = ()
    #: Whether the provider says the address is verified.
    verified: bool = True

    def claims(self) -> dict:
        return {"sub": hashlib.sha256(self.email.encode()).hexdigest()[:16],
                "email": self.email, "name": self.name, "email_verified": self.verified,
                "groups": list(self.groups)}


@dataclass
class Provider:
    """The running provider. Set :attr:`user` before a sign-in."""

    url: str = ""
    user: User | None = None
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(
        2048, parameters={"kid": "tests-1", "use": "sig", "alg": "RS256"}))
    codes: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def discovery(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
                "code_challenge_methods_supported": ["S256"]}

    def authorize(self, query: dict) -> tuple[int, str]:
        """A redirect back with a code for the chosen user (400 for a bad request)."""
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, ""
        if self.user is None:
            return 403, ""
        code = secrets.token_urlsafe(24)
        self.codes[code] = (self.user, query.get("nonce"), query.get("redirect_uri"),
                            query.get("code_challenge"))
        back = {"code": code, "state": query.get("state", "")}
        return 302, f"{query['redirect_uri']}?{urlencode(back)}"

    def token(self, form: dict, authorization: str | None) -> tuple[int, dict]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(
                authorization[6:]).decode().partition(":")
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        found = self.codes.pop(form.get("code", ""), None)
        if found is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        user, nonce, redirect_uri, challenge = found
        if form.get("redirect_uri") != redirect_uri:
            return 400, {"error": "invalid_grant"}
        if challenge:
            verifier = form.get("code_verifier", "").encode()
            made = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if made.decode() != challenge:
                return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {**user.claims(), "iss": self.url, "aud": CLIENT_ID, "iat": now,
                  "exp": now + 3600, **({"nonce": nonce} if nonce else {})}
        id_token = jwt.encode({"alg": "RS256", "kid": "tests-1"}, claims, self.key)
        access = secrets.token_urlsafe(24)
        self.tokens[access] = user
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                     "id_token": id_token, "scope": "openid email profile"}


def _handler(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif parts.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif parts.path == "/authorize":
                status, location = provider.authorize(query)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path == "/userinfo":
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                user = provider.tokens.get(token)
                self._json(200, user.claims()) if user else self._json(401, {})
            else:
                self._json(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                self._json(*provider.token(form, self.headers.get("Authorization")))
            else:
                self._json(404, {})

    return Handler


def start() -> tuple[Provider, ThreadingHTTPServer]:
    """A provider on a free loopback port, serving from a thread (stop it with
    ``server.shutdown()``)."""
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return provider, server
