"""Roles from ID-token claims and the role file, and what each role may do."""

from __future__ import annotations

import importlib
import sys

import pytest

from dashboard.access import (
    Access,
    AccessDeniedError,
    Policy,
    guarded_action,
    route_path,
    user_name,
)
from geo.errors import FlankwatchError


def test_a_claim_gives_the_role_its_value_is_mapped_to():
    policy = Policy.from_settings({"role_claim": "roles",
                                   "claim_roles": {"fw-admins": "admin",
                                                   "analyst": "analyst"}})
    assert policy.role_of({"roles": ["analyst"]}) == "analyst"
    assert policy.role_of({"roles": "fw-admins"}) == "admin"
    assert policy.role_of({"roles": ["staff", "analyst", "fw-admins"]}) == "admin"
    assert policy.role_of({"roles": ["admin"]}) == "viewer"  # not mapped: no role
    assert policy.role_of({"groups": ["fw-admins"]}) == "viewer"  # another claim


def test_unknown_users_are_viewers_or_refused():
    assert Policy.from_settings({}).role_of({"email": "x@example.org"}) == "viewer"
    refusing = Policy.from_settings({"unknown_user": "refuse",
                                     "claim_roles": {"fw": "viewer"}})
    assert refusing.role_of({"email": "x@example.org"}) is None
    assert refusing.role_of({"groups": ["fw"]}) == "viewer"


def verified(email: str, **claims) -> dict:
    """ID-token claims with an address the provider says it has verified."""
    return {"email": email, "email_verified": True, **claims}


def test_the_role_file_maps_addresses_and_the_highest_role_wins(tmp_path):
    roles = tmp_path / "roles.csv"
    roles.write_text("email,role\n# the desk\nAna@Example.org, analyst\n"
                     "bob@example.org,superuser\n", encoding="utf-8")
    policy = Policy.from_settings({"roles_file": str(roles), "unknown_user": "refuse"})
    assert policy.role_of(verified("ana@example.org")) == "analyst"
    assert Policy.from_settings({"roles_file": str(roles), "claim_roles": {"fw": "admin"}}
                                ).role_of(verified("ana@example.org", groups=["fw"])) == "admin"
    assert policy.role_of(verified("bob@example.org")) is None  # unknown role: skipped
    roles.write_text("email,role\nbob@example.org,admin\nana@example.org,none\n",
                     encoding="utf-8")
    assert policy.role_of(verified("bob@example.org")) == "admin"  # read again on change
    # "none" takes a role away at once, whatever the token's claims say
    assert policy.role_of(verified("ana@example.org", groups=["admin"])) is None
    # an address the provider has not verified is not looked up
    assert policy.role_of({"email": "bob@example.org", "email_verified": False}) is None
    # nor one it says nothing about, unless the settings trust such addresses
    assert policy.role_of({"email": "bob@example.org"}) is None
    trusting = Policy.from_settings({"roles_file": str(roles), "unknown_user": "refuse",
                                     "trust_unstated_email": True})
    assert trusting.role_of({"email": "bob@example.org"}) == "admin"
    assert trusting.role_of({"email": "bob@example.org", "email_verified": "false"}) is None
    with pytest.raises(FlankwatchError, match="trust_unstated_email"):
        Policy.from_settings({"trust_unstated_email": "yes"})
    roles.unlink()
    assert policy.role_of(verified("bob@example.org")) is None  # gone: no roles


def test_a_roles_file_with_a_byte_order_mark_keeps_its_first_line(tmp_path, caplog):
    roles = tmp_path / "roles.csv"  # as Windows editors save "UTF-8"
    roles.write_bytes("mallory@example.org,none\nana@example.org,analyst\n"
                      .encode("utf-8-sig"))
    policy = Policy.from_settings({"roles_file": str(roles)})  # unknown users: viewers
    assert policy.role_of(verified("mallory@example.org")) is None  # refused, not a viewer
    assert policy.role_of(verified("ana@example.org")) == "analyst"
    # a line that cannot be read may be the one refusing someone: nobody is let in
    for broken in ("email;role\nmallory@example.org;none\n",  # another separator
                   ",analyst\n"):  # no address
        roles.write_text(broken, encoding="utf-8")
        assert policy.role_of(verified("mallory@example.org")) is None
        assert policy.role_of(verified("ana@example.org")) is None
    assert "roles file line 1 cannot be read" in caplog.text
    roles.write_text("bob@example.org,noone\nana@example.org,analyst\n", encoding="utf-8")
    assert policy.role_of(verified("bob@example.org")) is None  # a typo refuses its address
    assert policy.role_of(verified("ana@example.org")) == "analyst"
    # a file that is not UTF-8 (a Latin-1 comment, Notepad's UTF-16) may be what refuses
    # someone: until it reads, everyone is refused (not let in as an unknown viewer)
    roles.write_bytes("# é\nmallory@example.org,none\n".encode("latin-1"))
    assert policy.role_of(verified("mallory@example.org")) is None
    assert policy.role_of(verified("ana@example.org")) is None
    roles.write_bytes("mallory@example.org,none\n".encode("utf-16"))
    assert policy.role_of(verified("mallory@example.org")) is None
    assert "the roles file cannot be read" in caplog.text
    roles.unlink()
    assert policy.role_of(verified("ana@example.org")) is None  # gone: nobody


@pytest.mark.parametrize("settings", [{"unknown_user": "admin"},
                                      {"claim_roles": {"staff": "owner"}}])
def test_a_wrong_setting_is_named(settings):
    with pytest.raises(FlankwatchError, match=next(iter(settings))):
        Policy.from_settings(settings)


def test_each_role_may_do_what_the_weaker_ones_may():
    viewer, analyst, admin = (Access("u", r, True) for r in ("viewer", "analyst", "admin"))
    assert viewer.can("export")
    assert not viewer.can("import")
    assert analyst.can("import")
    assert analyst.can("save view")
    assert not analyst.can("revert")
    assert admin.can("revert")
    assert admin.can("manage views")
    with pytest.raises(AccessDeniedError, match="import needs the analyst role"):
        viewer.require("import")
    with pytest.raises(AccessDeniedError):
        Access("u", None, True).require("read")


def test_requests_for_data_and_files_are_guarded():
    assert guarded_action("/fw/data/incidents-0123456789abcdef0123.bin", "GET") == "read"
    assert guarded_action("/media/abc.png", "GET") == "export"
    assert guarded_action("/_stcore/upload_file/s/f", "PUT") == "import"
    assert guarded_action("/_stcore/upload_file/s/f", "OPTIONS") is None
    assert guarded_action("/app/static/reference/land-1.json", "GET") is None
    assert guarded_action("/_stcore/health", "GET") is None
    assert guarded_action("/_stcore/metrics", "GET") == "read"


def test_users_are_named_by_a_verified_address_or_their_unique_subject():
    assert user_name({"email": "Ana@Example.org", "email_verified": True,
                      "sub": "1"}) == "ana@example.org"
    assert user_name({"email": "ana@example.org", "name": "Ana", "sub": "1"}) == "Ana [1]"
    assert user_name({"email": "Ana@Example.org", "sub": "1"},
                     trust_unstated=True) == "ana@example.org"
    assert user_name({"email": "ana@example.org", "email_verified": False,
                      "name": "ana@example.org", "sub": "s-2"}) == "ana@example.org [s-2]"
    assert user_name({"preferred_username": "ana", "sub": "s-3"}) == "ana [s-3]"


@pytest.mark.parametrize(("path", "root", "base", "expected"), [
    ("/media/x.png", "", "", "/media/x.png"),
    ("/fw2/media/x.png", "", "fw2", "/media/x.png"),
    ("/fw2//media/x.png", "", "/fw2/", "/media/x.png"),
    ("/mount/fw/data/a", "/mount", "", "/fw/data/a"),
    ("//_stcore/upload_file/s/f", "", "", "/_stcore/upload_file/s/f"),
])
def test_guarded_paths_are_found_under_a_base_path_or_mount(path, root, base, expected):
    assert route_path(path, root, base) == expected
    assert guarded_action(expected, "GET") is not None


def test_sign_in_required_from_the_start_refuses_everyone_without_settings(monkeypatch):
    """``FLANKWATCH_REQUIRE_SIGN_IN=1``: a server started without a readable ``[auth]``
    refuses everyone instead of opening as the single-user tool."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    from dashboard import access

    config.set_option("secrets.files", [])
    monkeypatch.setitem(access._LATCH, "required", False)
    try:
        secrets_singleton._reset()
        for value in ("0", "off", "No", ""):
            monkeypatch.setenv(access.REQUIRE_SIGN_IN, value)  # (and unset afterwards)
            assert access.sign_in_state() == (False, False)  # the single-user tool
        for value in ("1", "true", "YES", "on", "maybe"):  # a typing error: required
            monkeypatch.setenv(access.REQUIRE_SIGN_IN, value)
            assert access.sign_in_state() == (True, False)  # everyone refused
    finally:
        config.set_option("secrets.files", config.get_config_files("secrets.toml"))
        secrets_singleton._reset()


def test_unreadable_secrets_keep_sign_in_required(tmp_path, monkeypatch):
    """A secrets file broken by an edit (or gone) never opens the dashboard up."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    import dashboard
    from dashboard import access

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\ncookie_secret = "x"\n', encoding="utf-8")
    config.set_option("secrets.files", [str(secrets)])
    monkeypatch.setenv(access.REQUIRE_SIGN_IN, "0")  # (and unset afterwards)
    monkeypatch.setitem(access._LATCH, "required", False)
    try:
        secrets_singleton._reset()
        assert access.auth_configured()
        assert access.sign_in_state() == (True, True)  # required and usable
        secrets.write_text("[broken\n", encoding="utf-8")
        secrets_singleton._reset()
        assert access.sign_in_settings() == "unreadable"
        assert access.auth_configured()
        assert access.sign_in_state() == (True, False)  # required, not usable: refused
        secrets.unlink()
        secrets_singleton._reset()
        assert access.sign_in_settings() == "off"
        assert access.auth_configured()  # was on in this process: stays required
        # Streamlit loads the project's modules afresh when a source file changes
        monkeypatch.delitem(sys.modules, "dashboard.access")
        monkeypatch.setattr(dashboard, "access", access)  # put back afterwards
        fresh = importlib.import_module("dashboard.access")
        assert fresh is not access
        assert fresh.sign_in_state() == (True, False)
        # the environment variable removed (Streamlit removes those it copied from a
        # secrets file that changed): the server's own note of it holds
        monkeypatch.delenv(access.REQUIRE_SIGN_IN)
        assert access.sign_in_state() == (True, False)
    finally:
        config.set_option("secrets.files", config.get_config_files("secrets.toml"))
        secrets_singleton._reset()
