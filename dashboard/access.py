"""Who may do what: sign-in, roles, and the server-side checks of every request.

Sign-in is Streamlit's own OpenID Connect (``st.login``; the ``[auth]`` section of
``.streamlit/secrets.toml``). Without ``[auth]`` the dashboard is the single-user tool
it always was: whoever runs it may do everything, and it listens on 127.0.0.1.

With ``[auth]``, a signed-in user has one of three roles:

- **viewer**: reads the map, the table and the timeline, exports;
- **analyst**: also imports and saves shared views;
- **admin**: also reverts records and renames or deletes anyone's shared view.

The role comes from a claim of the ID token (``role_claim``, e.g. ``groups``), whose
values count only as ``[flankwatch.claim_roles]`` maps them, and from a role file of
``email,role`` lines (``roles_file``, by verified address; ``none`` refuses); the highest
wins. An address counts as verified when the ID token says so (``email_verified``), or,
with ``trust_unstated_email = true``, when it says nothing about it. A user with neither
role is a viewer, or is refused when ``unknown_user = "refuse"``::

    [flankwatch]
    role_claim = "groups"
    roles_file = "/etc/flankwatch/roles.csv"
    unknown_user = "viewer"
    [flankwatch.claim_roles]
    "flankwatch-admins" = "admin"
    "flankwatch-analysts" = "analyst"

The page checks the role before each write (not only by hiding its buttons), and
:class:`SessionGate` checks it on the HTTP requests that carry data or files: the map's
selections, downloads and uploads. An anonymous request gets nothing.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geo.audit import current_user
from geo.errors import FlankwatchError

log = logging.getLogger("flankwatch.access")

#: The roles, weakest first; each may do what the ones before it may.
ROLES = ("viewer", "analyst", "admin")

#: The weakest role each action needs.
NEEDS = {
    "read": "viewer",
    "export": "viewer",
    "import": "analyst",
    "save view": "analyst",
    "revert": "admin",
    "manage views": "admin",
    "add alert": "analyst",
    "acknowledge": "viewer",
}

#: What ``unknown_user`` may say.
UNKNOWN_POLICIES = ("viewer", "refuse")

#: The HTTP paths that carry incident data or files, and the action each needs.
GUARDED_PATHS = (
    ("/fw/data/", "read"),  # the map's selections (dashboard.display.SELECTION_URL)
    ("/media/", "export"),  # downloads (exports) and any other file the page is sent
    ("/_stcore/upload_file/", "import"),  # uploads to the Import tab
    # Streamlit's own counters: the sizes of the cached selections tell how much data
    # there is, and their hits when signed-in users are at work
    ("/_stcore/metrics", "read"),
)


class AccessDeniedError(FlankwatchError, PermissionError):
    """The signed-in user's role does not allow an action."""


def rank(role: str | None) -> int:
    """A role's strength (-1 for none)."""
    return ROLES.index(role) if role in ROLES else -1


@dataclass(frozen=True)
class Access:
    """A user and what they may do."""

    #: The name the logs give them: an e-mail address when signed in, else the
    #: operating-system user running the dashboard.
    user: str
    #: One of :data:`ROLES`, or None for a user who is refused.
    role: str | None
    signed_in: bool = False
    #: Writes the store itself does not allow, whatever the role: a read-only file, or
    #: a database role granted only SELECT (``geo.store.base.WRITES``).
    store_denies: frozenset[str] = frozenset()

    def can(self, action: str) -> bool:
        return action not in self.store_denies and rank(self.role) >= rank(NEEDS[action])

    def require(self, action: str) -> None:
        """Raise :class:`AccessDeniedError` unless the role and the store allow
        ``action``."""
        if action in self.store_denies:
            msg = (f"{action}: the store does not let this dashboard write (its file is "
                   "read-only, or its database role was granted reading only)")
            raise AccessDeniedError(msg)
        if not self.can(action):
            needed = NEEDS[action]
            msg = (f"{action} needs the {needed} role or higher; "
                   f"{self.user or 'this user'} is {self.role or 'not allowed in'}")
            raise AccessDeniedError(msg)


def single_user() -> Access:
    """Without sign-in: whoever runs the dashboard owns it."""
    return Access(user=current_user(), role="admin")


@dataclass(frozen=True)
class Policy:
    """How roles are given (``[flankwatch]`` in the secrets file)."""

    role_claim: str = "groups"
    claim_roles: Mapping[str, str] = field(default_factory=dict)
    roles_file: Path | None = None
    unknown_user: str = "viewer"
    #: Take an ID token's e-mail address as the user's when the token does not say
    #: whether it is verified (Microsoft Entra ID never does); off by default.
    trust_unstated_email: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping | None) -> Policy:
        """Read and check ``[flankwatch]``; a wrong value is a :class:`FlankwatchError`
        naming the key (the page refuses everyone rather than guess)."""
        settings = dict(settings or {})
        unknown = str(settings.get("unknown_user", "viewer"))
        if unknown not in UNKNOWN_POLICIES:
            msg = (f"[flankwatch] unknown_user is {unknown!r}; expected one of "
                   f"{', '.join(UNKNOWN_POLICIES)}")
            raise FlankwatchError(msg)
        mapping = {str(k): str(v) for k, v in dict(settings.get("claim_roles", {})).items()}
        for value, role in mapping.items():
            if role not in ROLES:
                msg = (f"[flankwatch.claim_roles] maps {value!r} to {role!r}; roles are "
                       f"{', '.join(ROLES)}")
                raise FlankwatchError(msg)
        path = settings.get("roles_file")
        trust = settings.get("trust_unstated_email", False)
        if not isinstance(trust, bool):
            msg = f"[flankwatch] trust_unstated_email is {trust!r}; expected true or false"
            raise FlankwatchError(msg)
        return cls(role_claim=str(settings.get("role_claim", "groups")), claim_roles=mapping,
                   roles_file=Path(path) if path else None, unknown_user=unknown,
                   trust_unstated_email=trust)

    def role_of(self, claims: Mapping) -> str | None:
        """The role of a signed-in user from their ID token's claims (the values
        ``claim_roles`` maps) and the role file (by verified e-mail address): the highest
        of those found; None when refused (``none`` in the role file refuses whatever
        the claims say)."""
        found = []
        value = claims.get(self.role_claim)
        values = value if isinstance(value, list | tuple) else [value] if value else []
        for item in map(str, values):
            role = self.claim_roles.get(item)  # only the values mapped: a group that
            if role:                           # happens to be called "admin" is not one
                found.append(role)
        email = verified_email(claims, self.trust_unstated_email)
        if self.roles_file is not None:
            listed = _role_file(self.roles_file)
            if listed is None:  # who it refuses cannot be known: nobody is let in
                return None
            role = listed.get(email) if email else None
            if role == "none":  # taken away at once, whatever the token says
                return None
            if role:
                found.append(role)
        if found:
            return max(found, key=rank)
        return "viewer" if self.unknown_user == "viewer" else None


_ROLE_FILES: dict[Path, tuple[tuple[int, int], dict[str, str] | None]] = {}


def _role_file(path: Path) -> dict[str, str] | None:
    """``email,role`` lines (a header line and ``#`` comments allowed; role ``none``
    refuses the user), read again when the file changes; a line with an unknown role is
    logged and skipped. None, and a line in the log, for a missing or unreadable file
    (not UTF-8 included): since it may be what refuses someone, everyone is then
    refused until it reads again."""
    try:
        stat = path.stat()
    except OSError as exc:
        log.error("the roles file cannot be read (%s): everyone is refused", exc.strerror)
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _ROLE_FILES.get(path)
    if cached and cached[0] == key:
        return cached[1]
    try:
        # utf-8-sig: a byte-order mark (as Windows editors write) is not part of the first
        # line's address
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        log.error("the roles file cannot be read (%s): everyone is refused", exc.strerror)
        return None
    try:
        with fh:
            roles = _role_lines(fh)
    except (UnicodeDecodeError, csv.Error) as exc:
        log.error("the roles file cannot be read (%s): everyone is refused", exc)
        roles = None
    _ROLE_FILES[path] = (key, roles)  # an unreadable file is not read again until it changes
    return roles


def _role_lines(fh) -> dict[str, str] | None:
    """The roles of the lines of a roles file (see :func:`_role_file`). A line with an
    unknown role refuses its address (it may have been meant to: ``noone``); a line
    that cannot be split into an address and a role (another separator, no address)
    could be the one refusing anybody, so the file gives None and nobody is let in.
    Each such line is logged."""
    roles: dict[str, str] = {}
    for number, row in enumerate(csv.reader(fh), start=1):
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        email, role = row[0].strip().lower(), (row[1].strip().lower() if len(row) > 1
                                               else "")
        if number == 1 and email == "email":
            continue
        if len(row) < 2 or "@" not in email:
            log.error("roles file line %d cannot be read (an e-mail address, a comma and a "
                      "role): everyone is refused until it is mended", number)
            return None
        if role not in (*ROLES, "none"):
            log.error("roles file line %d: role %r is not one of %s or none; %s is refused "
                      "until it is mended", number, role, ", ".join(ROLES), email)
            role = "none"
        roles[email] = role
    return roles


# --- settings (the secrets file) -------------------------------------------------------

def _secrets():
    from streamlit.runtime.secrets import secrets_singleton

    return secrets_singleton


def sign_in_settings() -> str:
    """The secrets as they read now: "on" (an ``[auth]`` section), "off" (no secrets
    file, or one without ``[auth]``), or "unreadable" (a secrets file that does not
    parse: being edited, or broken)."""
    from streamlit import config

    secrets = _secrets()
    try:
        if secrets.load_if_toml_exists():
            return "on" if "auth" in secrets else "off"
    except Exception:  # Streamlit says it does not raise; unreadable all the same
        log.exception("the secrets cannot be read")
        return "unreadable"
    files = config.get_option("secrets.files") or []
    return "unreadable" if any(Path(f).exists() for f in files) else "off"


#: Set (to 1, true, yes or on) by whoever runs the server, in the service's
#: environment, to require sign-in from the start: without a readable ``[auth]``,
#: everyone is refused. Any other value but 0, false, no or off counts as set (a typing
#: error never opens the dashboard up).
REQUIRE_SIGN_IN = "FLANKWATCH_REQUIRE_SIGN_IN"
_NOT_SET = {"", "0", "false", "no", "off"}

#: The first time this server sees ``[auth]`` (or secrets it cannot read) it requires
#: sign-in from then on: a secrets file broken by an edit, or gone for a moment, never
#: turns the dashboard into the open single-user tool. Kept twice: here, and in the
#: process's environment, which a reload of the project's modules cannot reset
#: (Streamlit may remove an environment variable it copied from the secrets file, so
#: neither alone is enough).
_LATCH = {"required": False}


def _required_by_environment() -> bool:
    return os.environ.get(REQUIRE_SIGN_IN, "").strip().lower() not in _NOT_SET


def sign_in_state() -> tuple[bool, bool]:
    """(required, usable), from one reading of the secrets: sign-in is required when
    ``[auth]`` is there now, or has been at any time since this server started, or the
    secrets cannot be read, or :data:`REQUIRE_SIGN_IN` says so; it is usable when its
    settings read now (required and not usable: everyone is refused)."""
    settings = sign_in_settings()
    if settings != "off" and not _LATCH["required"]:  # noted once
        _LATCH["required"] = True
        os.environ[REQUIRE_SIGN_IN] = "1"
    required = _LATCH["required"] or _required_by_environment()
    return required, settings == "on"


def auth_configured() -> bool:
    """Whether sign-in is required (see :func:`sign_in_state`)."""
    return sign_in_state()[0]


def policy() -> Policy:
    secrets = _secrets()
    return Policy.from_settings(secrets.get("flankwatch") if "flankwatch" in secrets else None)


def verified_email(claims: Mapping, trust_unstated: bool = False) -> str:
    """The user's e-mail address, lower case, when the provider says it is verified (or
    says nothing about it and ``trust_unstated``); else ""."""
    stated = claims.get("email_verified")
    if stated is None:
        verified = trust_unstated
    else:  # some providers send the claim as a string
        verified = stated is True or str(stated).strip().lower() == "true"
    return str(claims.get("email") or "").strip().lower() if verified else ""


def user_name(claims: Mapping, trust_unstated: bool = False) -> str:
    """Who a signed-in user is in logs and as the owner of shared views: their verified
    e-mail address, else their name with the provider's unique subject id (so that two
    people with one display name are never taken for each other)."""
    email = verified_email(claims, trust_unstated)
    if email:
        return email
    shown = claims.get("preferred_username") or claims.get("name") or "user"
    return f"{shown} [{claims.get('sub') or 'no subject'}]"


def access_from_claims(claims: Mapping | None) -> Access | None:
    """The access of a signed-in user (None when not signed in)."""
    if not claims or not claims.get("is_logged_in"):
        return None
    rules = policy()
    return Access(user=user_name(claims, rules.trust_unstated_email),
                  role=rules.role_of(claims), signed_in=True)


# --- the server side: requests for data and files --------------------------------------

#: The cookie that binds a sign-in cookie Streamlit split into parts (claims over about
#: 3 kB: a long group list, a long name) to the whole: the server-signed SHA-256 of the
#: parts as they were set at sign-in. Each part is signed alone, so without it the parts
#: of two sign-ins could be joined into a user that neither was.
DIGEST_COOKIE = "_flankwatch_user_digest"
_PART = re.compile(r"^chunks-(\d{1,3})$")


def _user_cookie_names(main: bytes | None) -> list[str] | None:
    """The names of the sign-in cookie's parts, main cookie first, from the main
    cookie's (verified) value; a cookie in one part is one name; None: no cookie."""
    if main is None:
        return None
    match = _PART.match(main.decode("latin-1"))
    count = int(match[1]) if match else 0
    name = _main_name()
    return [name] + [f"{name}_{k}" for k in range(1, count + 1)]


def parts_digest(values: list[str]) -> str:
    """The digest of a sign-in cookie's parts (their signed values, in order)."""
    import hashlib

    return hashlib.sha256("\n".join(values).encode("latin-1", "replace")).hexdigest()


def _signed(name: str, value: str | None) -> bytes | None:
    """A cookie's value if its signature (the server's cookie secret) holds."""
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

    if value is None:
        return None
    return decode_signed_value(get_cookie_secret(), name, value.encode("latin-1"))


def cookie_claims(cookies: Mapping[str, str]) -> dict | None:
    """The claims in a request's sign-in cookie when its signature holds (Streamlit's
    own cookie, signed with the server's cookie secret) and, for a cookie in several
    parts, :data:`DIGEST_COOKIE` says these parts were set together; else None."""
    import json

    main = _main_name()
    try:
        names = _user_cookie_names(_signed(main, cookies.get(main)))
        if names is None:
            return None
        parts = [_signed(name, cookies.get(name)) for name in names]
        if None in parts:
            return None
        if len(names) > 1:
            digest = _signed(DIGEST_COOKIE, cookies.get(DIGEST_COOKIE))
            if digest is None or digest.decode() != parts_digest([cookies[n] for n in names]):
                log.warning("a sign-in cookie whose parts were not set together: refused")
                return None
            parts = parts[1:]
        claims = json.loads(b"".join(parts))
    except (ValueError, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _main_name() -> str:
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    return USER_COOKIE_NAME


def _set_cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, tuple[str, str]]:
    """The cookies a response sets: name → (value, attributes), the last of each name."""
    out = {}
    for key, line in headers:
        if key.lower() == b"set-cookie":
            pair, _, attributes = line.decode("latin-1").partition(";")
            name, _, value = pair.partition("=")
            out[name.strip()] = (value.strip().strip('"'), attributes)
    return out


def digest_header(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes] | None:
    """The ``Set-Cookie`` header binding the parts of the sign-in cookie a response sets
    (see :data:`DIGEST_COOKIE`), or None when it sets none."""
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    cookies = _set_cookies(headers)
    main = cookies.get(_main_name())
    if main is None or not main[0]:
        return None
    names = _user_cookie_names(_signed(_main_name(), main[0])) or []
    values = [cookies.get(name, ("", ""))[0] for name in names]
    signed = create_signed_value(get_cookie_secret(), DIGEST_COOKIE,
                                 parts_digest(values)).decode("latin-1")
    return b"set-cookie", f"{DIGEST_COOKIE}={signed};{main[1]}".encode("latin-1")


def route_path(path: str, root_path: str = "", base_url: str = "") -> str:
    """A request's path as the routes see it: without the ASGI mount point
    (``root_path``) or Streamlit's ``server.baseUrlPath``, runs of slashes as one."""
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):]
    return re.sub(r"/{2,}", "/", "/" + path.lstrip("/"))


def guarded_action(path: str, method: str) -> str | None:
    """The action a request for a route path needs, or None for one that carries no
    data."""
    if method == "OPTIONS":  # a CORS preflight carries nothing
        return None
    for prefix, action in GUARDED_PATHS:
        if path.startswith(prefix):
            return action
    return None


#: Headers on every response: no other site may show the dashboard in a frame (a
#: page of its own laid over the Revert button). Streamlit's component pages (the map)
#: are framed by the dashboard itself, so they may be framed by their own site.
FRAME_HEADERS = ((b"x-frame-options", b"DENY"),
                 (b"content-security-policy", b"frame-ancestors 'none'"))
SAME_SITE_FRAME_HEADERS = ((b"x-frame-options", b"SAMEORIGIN"),
                           (b"content-security-policy", b"frame-ancestors 'self'"))
#: Where the page frames pages of its own site.
FRAMED_PATHS = ("/component/",)
#: Where the identity provider sends the browser back to, and Streamlit sets the
#: sign-in cookie.
CALLBACK_PATH = "/oauth2callback"


class SessionGate:
    """ASGI middleware: with sign-in on, a request for data or files needs a signed-in
    user whose role allows it (401 without sign-in, 403 without the role). Without
    sign-in it lets everything through (the server listens on this machine only).
    Every response gets :data:`FRAME_HEADERS`; the sign-in response, the cookie that
    binds the sign-in cookie's parts (:data:`DIGEST_COOKIE`)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from streamlit import config

        path = route_path(scope["path"], scope.get("root_path", ""),
                          config.get_option("server.baseUrlPath") or "")
        action = guarded_action(path, scope.get("method", "GET"))
        # the secrets are looked at only for requests that carry data or files
        required, usable = sign_in_state() if action else (False, False)
        if required:
            refusal = _refusal(scope, action, usable)
            if refusal is not None:
                await refusal(scope, receive, _with_headers(send, path))
                return
        await self.app(scope, receive, _with_headers(send, path))


def _with_headers(send, path: str):
    """``send`` adding the frame headers to the response, and to the sign-in response
    the cookie binding the sign-in cookie's parts."""
    framing = (SAME_SITE_FRAME_HEADERS if path.startswith(FRAMED_PATHS) else FRAME_HEADERS)

    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in framing}
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() not in names]
            headers += framing
            if path == CALLBACK_PATH:
                binding = digest_header(headers)
                headers += [binding] if binding else []
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _refusal(scope, action: str, usable: bool):
    """The response refusing a request for ``action`` (None when the request's sign-in
    cookie names a user whose role allows it)."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    who = None
    if usable:  # else: the settings cannot be read, everyone is refused
        try:
            who = access_from_claims(cookie_claims(Request(scope).cookies))
        except FlankwatchError as exc:  # a wrong [flankwatch] setting
            log.error("%s", exc)
    if who is not None and who.can(action):
        return None
    if who is None:
        return PlainTextResponse("Sign in first.", status_code=401)
    log.warning("refused %s %s to %s (%s)", scope.get("method"), scope["path"], who.user,
                who.role)
    return PlainTextResponse("Your role does not allow this.", status_code=403)


_SELECTION_NAME = re.compile(r"^[a-z][a-z-]*-[0-9a-f]{20}\.(json|bin|js)$")
_MEDIA_TYPES = {"json": "application/json", "bin": "application/octet-stream",
                "js": "text/javascript"}


async def selection(request):
    """A selection file the map fetches (after :class:`SessionGate`); named by its
    content, so it may be cached for good, by this browser only."""
    from starlette.responses import FileResponse, PlainTextResponse

    from dashboard.display import SELECTION_DIR, gzipped

    name = request.path_params["name"]
    match = _SELECTION_NAME.match(name)
    path = SELECTION_DIR / name
    if not match or not path.is_file():
        return PlainTextResponse("Not found.", status_code=404)
    headers = {"Cache-Control": "private, max-age=31536000, immutable",
               "Vary": "Accept-Encoding"}
    packed = gzipped(path) if "gzip" in request.headers.get("accept-encoding", "") else None
    if packed is not None:  # compressed once, not per request
        path, headers["Content-Encoding"] = packed, "gzip"
    return FileResponse(path, media_type=_MEDIA_TYPES[match.group(1)], headers=headers)


def routes() -> list:
    """The routes the dashboard adds to Streamlit's: the map's selections."""
    from starlette.routing import Route

    from dashboard.display import SELECTION_URL

    return [Route(SELECTION_URL + "/{name}", selection)]


def middleware() -> list:
    """The gate in front of every request."""
    from starlette.middleware import Middleware

    return [Middleware(SessionGate)]


def remove_old_selections() -> None:
    """Selections and display layers an earlier Flankwatch wrote under the static
    folder (served to anyone): deleted when the server starts."""
    import shutil

    from dashboard.vendor import STATIC_DIR

    for old in ("data", "reference"):
        shutil.rmtree(STATIC_DIR / old, ignore_errors=True)
