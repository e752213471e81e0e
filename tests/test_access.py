"""Roles from ID-token claims and the role file, and what each role may do."""

from __future__ import annotations

import pytest

from dashboard.access import (
    Access,
    AccessDeniedError,
    Policy,
    guarded_action,
)
from geo.errors import FlankwatchError


def test_a_claim_gives_the_role_it_names_or_maps_to():
    policy = Policy.from_settings({"role_claim": "roles",
                                   "claim_roles": {"fw-admins": "admin"}})
    assert policy.role_of({"roles": ["analyst"]}) == "analyst"
    assert policy.role_of({"roles": "fw-admins"}) == "admin"
    assert policy.role_of({"roles": ["staff", "analyst", "fw-admins"]}) == "admin"
    assert policy.role_of({"groups": ["admin"]}) == "viewer"  # another claim: not read


def test_unknown_users_are_viewers_or_refused():
    assert Policy.from_settings({}).role_of({"email": "x@example.org"}) == "viewer"
    refusing = Policy.from_settings({"unknown_user": "refuse"})
    assert refusing.role_of({"email": "x@example.org"}) is None
    assert refusing.role_of({"groups": ["viewer"]}) == "viewer"


def test_the_role_file_maps_addresses_and_the_highest_role_wins(tmp_path):
    roles = tmp_path / "roles.csv"
    roles.write_text("email,role\n# the desk\nAna@Example.org, analyst\n"
                     "bob@example.org,superuser\n", encoding="utf-8")
    policy = Policy.from_settings({"roles_file": str(roles), "unknown_user": "refuse"})
    assert policy.role_of({"email": "ana@example.org"}) == "analyst"
    assert policy.role_of({"email": "ana@example.org", "groups": ["admin"]}) == "admin"
    assert policy.role_of({"email": "bob@example.org"}) is None  # unknown role: skipped
    roles.write_text("email,role\nbob@example.org,admin\n", encoding="utf-8")
    assert policy.role_of({"email": "bob@example.org"}) == "admin"  # read again on change
    roles.unlink()
    assert policy.role_of({"email": "bob@example.org"}) is None  # gone: no roles


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
