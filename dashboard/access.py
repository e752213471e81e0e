"""Who may do what: sign-in, roles, and the server-side checks of every request.

Sign-in is Streamlit's own OpenID Connect (``st.login``; the ``[auth]`` section of
``.streamlit/secrets.toml``). Without ``[auth]`` the dashboard is the single-user tool
it always was: whoever runs it may do everything, and it listens on 127.0.0.1.

With ``[auth]``, a signed-in user has one of three roles:

- **viewer**: reads the map, the table and the timeline, exports;
- **analyst**: also imports and saves shared views;
- **admin**: also reverts records and renames or deletes anyone's shared view.

The role comes from a claim of the ID token (``role_claim``, e.g. ``groups``), whose
values are role names or are mapped to roles in ``[flankwatch.claim_roles]``, and from a
role file of ``email,role`` lines (``roles_file``); the highest wins. A user with
neither is a viewer, or is refused when ``unknown_user = "refuse"``::

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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from geo.errors import FlankwatchError
from geo.store import current_user

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
}

#: What ``unknown_user`` may say.
UNKNOWN_POLICIES = ("viewer", "refuse")

#: The HTTP paths that carry incident data or files, and the action each needs.
GUARDED_PATHS = (
    ("/fw/data/", "read"),  # the map's selections (dashboard.display.SELECTION_URL)
    ("/media/", "export"),  # downloads (exports) and any other file the page is sent
    ("/_stcore/upload_file/", "import"),  # uploads to the Import tab
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

    def can(self, action: str) -> bool:
        return rank(self.role) >= rank(NEEDS[action])

    def require(self, action: str) -> None:
        """Raise :class:`AccessDeniedError` unless the role allows ``action``."""
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
        return cls(role_claim=str(settings.get("role_claim", "groups")), claim_roles=mapping,
                   roles_file=Path(path) if path else None, unknown_user=unknown)

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
        email = verified_email(claims)
        if self.roles_file is not None and email:
            role = _role_file(self.roles_file).get(email)
            if role == "none":  # taken away at once, whatever the token says
                return None
            if role:
                found.append(role)
        if found:
            return max(found, key=rank)
        return "viewer" if self.unknown_user == "viewer" else None


_ROLE_FILES: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def _role_file(path: Path) -> dict[str, str]:
    """``email,role`` lines (a header line and ``#`` comments allowed; role ``none``
    refuses the user), read again when the file changes; a line with an unknown role is
    logged and skipped. A missing or unreadable file gives no roles (and a line in the
    log)."""
    try:
        stat = path.stat()
    except OSError as exc:
        log.error("the roles file cannot be read: %s", exc.strerror)
        return {}
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _ROLE_FILES.get(path)
    if cached and cached[0] == key:
        return cached[1]
    roles: dict[str, str] = {}
    try:
        fh = open(path, encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        log.error("the roles file cannot be read: %s", exc.strerror)
        return {}
    with fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            email, role = row[0].strip().lower(), (row[1].strip().lower() if len(row) > 1
                                                   else "")
            if number == 1 and email == "email":
                continue
            if role not in (*ROLES, "none"):
                log.error("roles file line %d: role %r is not one of %s or none; line "
                          "skipped", number, role, ", ".join(ROLES))
                continue
            roles[email] = role
    _ROLE_FILES[path] = (key, roles)
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


#: Once sign-in has been on (or its settings unreadable) in this process, it stays
#: required: a secrets file broken by an edit, or gone for a moment, never turns the
#: dashboard into the open single-user tool.
_SIGN_IN_REQUIRED = False


def auth_configured() -> bool:
    """Whether sign-in is required: an ``[auth]`` section in the secrets now, or at any
    time since this server started, or secrets that cannot be read."""
    global _SIGN_IN_REQUIRED  # one flag per server process, by design
    if not _SIGN_IN_REQUIRED and sign_in_settings() != "off":
        _SIGN_IN_REQUIRED = True
    return _SIGN_IN_REQUIRED


def sign_in_usable() -> bool:
    """Whether sign-in can be checked now (its settings read); when required and not
    usable, everyone is refused."""
    return sign_in_settings() == "on"


def policy() -> Policy:
    secrets = _secrets()
    return Policy.from_settings(secrets.get("flankwatch") if "flankwatch" in secrets else None)


def verified_email(claims: Mapping) -> str:
    """The user's e-mail address, lower case, unless the provider says it is not
    verified ("" then, or when there is none)."""
    if claims.get("email_verified") is False or str(claims.get("email_verified")
                                                    ).lower() == "false":
        return ""
    return str(claims.get("email") or "").strip().lower()


def user_name(claims: Mapping) -> str:
    """Who a signed-in user is in logs and as the owner of shared views: their verified
    e-mail address, else their name with the provider's unique subject id (so that two
    people with one display name are never taken for each other)."""
    email = verified_email(claims)
    if email:
        return email
    shown = claims.get("preferred_username") or claims.get("name") or "user"
    return f"{shown} [{claims.get('sub') or 'no subject'}]"


def access_from_claims(claims: Mapping | None) -> Access | None:
    """The access of a signed-in user (None when not signed in)."""
    if not claims or not claims.get("is_logged_in"):
        return None
    return Access(user=user_name(claims), role=policy().role_of(claims), signed_in=True)


# --- the server side: requests for data and files --------------------------------------

def cookie_claims(cookies: Mapping[str, str]) -> dict | None:
    """The claims in a request's sign-in cookie when its signature holds (Streamlit's
    own cookie, signed with the server's cookie secret), else None."""
    import json

    from streamlit.auth_util import get_cookie_with_chunks
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    secret = get_cookie_secret()

    def single(name: str) -> bytes | None:
        raw = cookies.get(name)
        return None if raw is None else decode_signed_value(secret, name,
                                                            raw.encode("latin-1"))

    try:
        raw = get_cookie_with_chunks(single, USER_COOKIE_NAME)
        claims = json.loads(raw) if raw else None
    except (ValueError, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


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


class SessionGate:
    """ASGI middleware: with sign-in on, a request for data or files needs a signed-in
    user whose role allows it (401 without sign-in, 403 without the role). Without
    sign-in it lets everything through (the server listens on this machine only)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and auth_configured():
            from streamlit import config

            path = route_path(scope["path"], scope.get("root_path", ""),
                              config.get_option("server.baseUrlPath") or "")
            action = guarded_action(path, scope.get("method", "GET"))
            if action is not None:
                from starlette.requests import Request
                from starlette.responses import PlainTextResponse

                who = None
                if sign_in_usable():  # else: settings unreadable, everyone refused
                    try:
                        who = access_from_claims(cookie_claims(Request(scope).cookies))
                    except FlankwatchError as exc:  # a wrong [flankwatch] setting
                        log.error("%s", exc)
                if who is None or not who.can(action):
                    status = 401 if who is None else 403
                    if who is not None:
                        log.warning("refused %s %s to %s (%s)", scope.get("method"),
                                    scope["path"], who.user, who.role)
                    await PlainTextResponse("Sign in first." if status == 401 else
                                            "Your role does not allow this.",
                                            status_code=status)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_SELECTION_NAME = re.compile(r"^[a-z][a-z-]*-[0-9a-f]{20}\.(json|bin|js)$")
_MEDIA_TYPES = {"json": "application/json", "bin": "application/octet-stream",
                "js": "text/javascript"}


async def selection(request):
    """A selection file the map fetches (after :class:`SessionGate`); named by its
    content, so it may be cached for good, by this browser only."""
    from starlette.responses import FileResponse, PlainTextResponse

    from dashboard.display import SELECTION_DIR

    name = request.path_params["name"]
    match = _SELECTION_NAME.match(name)
    path = SELECTION_DIR / name
    if not match or not path.is_file():
        return PlainTextResponse("Not found.", status_code=404)
    return FileResponse(path, media_type=_MEDIA_TYPES[match.group(1)],
                        headers={"Cache-Control": "private, max-age=31536000, immutable"})


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
    """Selections an earlier Flankwatch wrote under the static folder (served to
    anyone): deleted when the server starts."""
    import shutil

    from dashboard.vendor import STATIC_DIR

    shutil.rmtree(STATIC_DIR / "data", ignore_errors=True)
