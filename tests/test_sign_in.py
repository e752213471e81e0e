"""Sign-in and roles in a real browser: the dashboard with ``[auth]`` set, signing in at
an OpenID Connect provider of the tests' own (``tests/oidc.py``), all on 127.0.0.1.

Users: a viewer (no role anywhere: ``unknown_user = "viewer"``), an analyst (from the
role file) and an admin (from the ID token's ``groups`` claim)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from dashboard.display import SELECTION_DIR
from geo.records import import_file
from geo.store import open_store
from tests import oidc
from tests.browser import ARTIFACTS, dashboard, free_port, map_frame, open_tab, runs_over

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWER = oidc.User("vera.viewer@example.org", "Vera Viewer")
ANALYST = oidc.User("ana.analyst@example.org", "Ana Analyst", ("staff",))
ADMIN = oidc.User("adam.admin@example.org", "Adam Admin", ("fw-admins",))

UPLOAD_LIMIT_MB = 1

EDITED = (b"id,date,type,lat,lon,confidence,title,sources\n"
          b"signin-edited,2025-09-20,drone,54.10,25.00,reported,")
NEW_INCIDENT = (b"id,date,type,lat,lon,confidence,title,sources\n"
                b"signin-1,2025-10-02,drone,54.70,25.30,reported,Drone over Vilnius,\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The provider and a dashboard with sign-in on; yields (url, provider, store, the
    secrets file)."""
    folder = tmp_path_factory.mktemp("signin")
    store = open_store(folder / "store.gpkg")
    for title in ("Drone near Lida", "Drone near Lida, shot down"):  # two versions
        edited = folder / "edited.csv"
        edited.write_bytes(EDITED + f"\"{title}\",\n".encode())
        assert import_file(store, edited, who="seed editor").written
    provider, idp = oidc.start()
    roles = folder / "roles.csv"
    roles.write_text(f"email,role\n{ANALYST.email},analyst\n", encoding="utf-8")
    port = free_port()
    secrets = folder / "secrets.toml"
    secrets.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "tests-cookie-secret-0123456789abcdef"
client_id = "{oidc.CLIENT_ID}"
client_secret = "{oidc.CLIENT_SECRET}"
server_metadata_url = "{provider.url}/.well-known/openid-configuration"

[flankwatch]
role_claim = "groups"
roles_file = "{roles}"
unknown_user = "viewer"
[flankwatch.claim_roles]
"fw-admins" = "admin"
""", encoding="utf-8")
    try:
        with dashboard(store.path, "--secrets.files", str(secrets),
                       "--server.maxUploadSize", str(UPLOAD_LIMIT_MB), port=port) as url:
            yield url, provider, store, secrets
    finally:
        idp.shutdown()


def sign_in(browser, site, user, *, shown: str | None = None):
    """A new browser context signed in as ``user``; returns its page once it says
    "Signed in as" ``shown`` (the user's address unless given)."""
    url, provider, *_ = site
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.goto(url)
    provider.user = user
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {shown or user.email}").wait_for(timeout=60_000)
    return page


def http(url: str, *, method: str = "GET", cookies: dict | None = None,
         headers: dict | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    """A request outside any browser (loopback only)."""
    head = dict(headers or {})
    if cookies:
        head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    request = urllib.request.Request(url, data=data, method=method, headers=head)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def put_oversized(url: str, size: int, *, cookies: dict, declared: bool) -> int:
    """The status answering an upload of a ``size``-byte file (a multipart body with
    the page's XSRF token), sent over a loopback socket. ``declared``: the size is in
    Content-Length, and the body is held back until the server asks for it (``Expect:
    100-continue``); else the body goes in chunks of 64 kB without a stated length, and
    the sending stops as soon as the server has answered (it stops reading the body
    then, and more of it would reset the connection and lose the answer)."""
    import select
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = {"Host": parts.netloc, "X-Xsrftoken": cookies["_streamlit_xsrf"],
            "Content-Type": "multipart/form-data; boundary=fw-boundary",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    head.update({"Content-Length": str(size), "Expect": "100-continue"} if declared
                else {"Transfer-Encoding": "chunked"})
    lines = [f"PUT {parts.path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
    start = (b'--fw-boundary\r\nContent-Disposition: form-data; name="file"; '
             b'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n')
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        sent = 0
        while not declared and sent < size:
            if select.select([sock], [], [], 0.05)[0]:
                break  # answered
            piece = (start if sent == 0 else b"") + b"0" * min(65536, size - sent)
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        answer = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(answer.split()[1])


def query_of(page) -> dict:
    """The page's address parameters, but the map's position."""
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(page.url).query, keep_blank_values=True)
    return {k: v for k, v in query.items() if k != "view"}


def cookies_of(page) -> dict:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def test_anonymous_visitors_see_sign_in_only_and_get_no_data(site, browser):
    url, _, store, _ = site
    viewer = sign_in(browser, site, VIEWER)  # a session that had data sent to it
    map_frame(viewer)
    served = [p.name for p in SELECTION_DIR.iterdir() if re.match(r"incidents-", p.name)]
    assert served
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    runs_over(page)  # the run is over: nothing more of the page will come
    body = page.locator("body").inner_text()
    assert "Incidents shown" not in body
    assert not page.locator("iframe").count()
    assert str(store.count_incidents()) not in re.findall(r"\d+", body)
    for name in served:  # the map's arrays, popups and starter script
        status, data = http(f"{url}/fw/data/{name}")
        assert status == 401
        assert b"incident" not in data.lower()
    # nor Streamlit's counters, whose cache sizes would tell how much data there is
    assert http(f"{url}/_stcore/metrics")[0] == 401
    assert http(f"{url}/_stcore/metrics", cookies=cookies_of(viewer))[0] == 200
    page.screenshot(path=str(ARTIFACTS / "sign-in-anonymous.png"))
    context.close()
    viewer.context.close()


def sign_in_cookies(browser, site, user) -> dict:
    """The cookies of a sign-in as ``user`` (once the provider has sent the browser
    back), without the tokens cookie: the page does not need it, and with it claims
    this large make the request for the page's websocket too long to be taken."""
    url, provider, *_ = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    provider.user = user
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/", timeout=60_000)
    runs_over(page)
    cookies = cookies_of(page)
    context.close()
    return {k: v for k, v in cookies.items() if not k.startswith("_streamlit_user_tokens")}


def page_with_cookies(browser, url: str, cookies: dict):
    """A new browser context holding ``cookies``, its page opened and its run over."""
    context = browser.new_context()
    context.add_cookies([{"name": k, "value": v, "url": url} for k, v in cookies.items()])
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name=re.compile("^Sign (in|out)$")).wait_for(timeout=60_000)
    runs_over(page)
    page.screenshot(path=str(ARTIFACTS / "sign-in-cookie-parts.png"))
    return page


def test_sign_in_cookies_in_parts_are_bound_together(site, browser):
    """Claims over about 3 kB make Streamlit split its sign-in cookie into parts, each
    signed alone. Parts of two sign-ins (an unverified address with a long name, and
    another user's verified one) joined at a point inside both names read as the first
    address, verified, with the role the roles file gives it: refused, at the gate and
    on the page; each sign-in's own parts still work."""
    import random
    import string

    url = site[0]
    # names a compressor cannot shorten: the signed cookie stays over 4 kB, in two parts
    names = ["".join(random.Random(seed).choices(string.ascii_letters, k=4300))
             for seed in (1, 2)]
    first = sign_in_cookies(browser, site, oidc.User(ANALYST.email, names[0],
                                                     verified=False))
    second = sign_in_cookies(browser, site, oidc.User("eve@example.org", names[1]))
    assert "_streamlit_user_2" in first
    assert "_streamlit_user_2" in second
    assert "_streamlit_user_3" not in first
    spliced = {**first, "_streamlit_user_2": second["_streamlit_user_2"]}
    for cookies in (first, second):  # each sign-in, whole, reads and is bound
        assert http(f"{url}/_stcore/metrics", cookies=cookies)[0] == 200
    assert http(f"{url}/_stcore/metrics", cookies=spliced)[0] == 401
    # the upload, for which the joined cookie would have been an analyst's
    status, _ = http(f"{url}/_stcore/upload_file/anything/anything", method="PUT",
                     cookies=spliced, data=NEW_INCIDENT,
                     headers={"X-Xsrftoken": spliced["_streamlit_xsrf"],
                              "Content-Type": "text/csv"})
    assert status == 401
    page = page_with_cookies(browser, url, first)
    assert f"Signed in as {names[0][:40]}" in page.locator("body").inner_text()
    page.context.close()
    page = page_with_cookies(browser, url, spliced)
    body = page.locator("body").inner_text()
    assert "Signed in as" not in body
    assert page.get_by_role("button", name="Sign in").count() == 1
    page.context.close()


def test_no_other_site_may_frame_the_dashboard(site):
    """Click-jacking: every response says the page may not be framed elsewhere (the
    map's component pages only by the dashboard itself)."""
    import urllib.request

    url = site[0]
    for path in ("/", "/_stcore/health", "/fw/data/none.json"):
        request = urllib.request.Request(url + path)
        try:
            headers = urllib.request.urlopen(request, timeout=30).headers
        except urllib.error.HTTPError as exc:
            headers = exc.headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Content-Security-Policy"] == "frame-ancestors 'none'", path


def test_a_viewer_reads_and_exports_but_cannot_import(site, browser):
    url, _, store, _ = site
    page = sign_in(browser, site, VIEWER)
    frame = map_frame(page)
    assert frame.evaluate("() => window.fwIncidents.total") == store.count_incidents()
    tabs = [t.inner_text() for t in page.get_by_role("tab").all()]
    assert "Export" in tabs
    assert "Import" not in tabs
    open_tab(page, "Export",
             page.get_by_role("button", name=re.compile("^Download Briefing map, PNG")))
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name=re.compile("^Download Briefing map, PNG")).click()
    path = download.value.path()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the download came from /media/: an anonymous request for it gets nothing
    media = download.value.url
    assert "/media/" in media
    assert http(media)[0] == 401
    assert http(media, cookies=cookies_of(page))[0] == 200
    # a crafted upload, with the viewer's own session cookies and XSRF token, is refused
    cookies = cookies_of(page)
    before = store.count_incidents()
    status, _ = http(f"{url}/_stcore/upload_file/anything/anything", method="PUT",
                     cookies=cookies, headers={"X-Xsrftoken": cookies["_streamlit_xsrf"],
                                               "Content-Type": "text/csv"},
                     data=NEW_INCIDENT)
    assert status == 403
    assert store.count_incidents() == before
    page.context.close()


def test_an_analyst_imports_in_their_own_name(site, browser):
    _, _, store, _ = site
    page = sign_in(browser, site, ANALYST)
    map_frame(page)
    open_tab(page, "Import", page.locator("input[type=file]"))
    stated = page.get_by_test_id("stFileUploaderDropzoneInstructions").inner_text()
    assert f"{UPLOAD_LIMIT_MB}MB per file" in stated  # the limit the server enforces
    upload = page.locator("input[type=file]")
    puts = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    upload.set_input_files({"name": "new.csv", "mimeType": "text/csv",
                            "buffer": NEW_INCIDENT})
    page.get_by_role("button", name="Import 1 valid row").click()
    page.locator(".fw-notice.fw-success").wait_for(timeout=60_000)
    assert store.incident("signin-1") is not None
    log = store.imports()
    assert log.iloc[-1]["file"] == "new.csv"
    assert log.iloc[-1]["imported_by"] == ANALYST.email
    # the server enforces the stated limit (to the page's own session, at the address
    # its upload went to): a bigger upload is refused, whether its size is stated or not
    cookies = cookies_of(page)
    target = next(u for u in puts if "/_stcore/upload_file/" in u)
    over = (UPLOAD_LIMIT_MB + 2) * 1024 * 1024  # past the limit and Streamlit's 1 MB margin
    for declared in (True, False):
        assert put_oversized(target, over, cookies=cookies, declared=declared) == 413
    # and without the XSRF token nothing is taken at all
    status, _ = http(target, method="PUT", cookies=cookies, data=NEW_INCIDENT)
    assert status == 403
    page.context.close()


def test_an_admin_reverts_a_record_and_the_history_names_them(site, browser):
    url, _, store, _ = site
    page = sign_in(browser, site, ADMIN)
    page.goto(f"{url}/?selected=signin-edited")
    map_frame(page)  # the page settled (the map's first report makes a rerun)
    page.get_by_text("History: 2 versions").click()
    page.get_by_text("Drone near Lida, shot down").first.wait_for(timeout=30_000)
    runs_over(page)  # a click while the map's report reruns the page can be lost
    page.get_by_role("button", name="Revert to version 1").click()
    page.get_by_text("History: 3 versions").wait_for(timeout=60_000)
    assert store.incident("signin-edited")["title"] == "Drone near Lida"
    # the revert ran the whole page: the details beside the map show the old title too
    details = page.locator(".fw-facts .fw-title")
    details.filter(has_text=re.compile("^Drone near Lida$")).wait_for(timeout=60_000)
    log = store.imports()
    assert log.iloc[-1]["file"] == "revert incidents signin-edited to version 1"
    assert log.iloc[-1]["imported_by"] == ADMIN.email
    page.context.close()


def test_an_analyst_sees_the_history_but_cannot_revert(site, browser):
    url, *_ = site
    page = sign_in(browser, site, ANALYST)
    page.goto(f"{url}/?selected=signin-edited")
    map_frame(page)  # the page settled (the map's first report makes a rerun)
    page.get_by_text(re.compile(r"History: \d versions")).click()
    page.get_by_text("Version 2:").first.wait_for(timeout=30_000)
    assert not page.get_by_role("button", name=re.compile("^Revert")).count()
    page.context.close()


def test_a_view_an_analyst_saves_opens_the_same_for_a_viewer(site, browser):
    url, _, store, _ = site
    from geo.store.views import list_views, view_log

    analyst = sign_in(browser, site, ANALYST)
    analyst.goto(f"{url}/?types=aircraft&view=54.5,24.5,7")
    analyst.get_by_text("Signed in as").wait_for(timeout=60_000)
    map_frame(analyst)
    shown = analyst.get_by_test_id("stMetricValue").first.inner_text()
    analyst.get_by_label("Save the current view as").fill("Aircraft watch")
    analyst.get_by_label("Save the current view as").press("Enter")
    analyst.get_by_role("button", name="Save for the team").click()
    analyst.get_by_text("Rename or delete").wait_for(timeout=60_000)  # the owner's
    (saved,) = [v for v in list_views(store) if v.name == "Aircraft watch"]
    assert saved.owner == ANALYST.email
    viewer = sign_in(browser, site, VIEWER)  # another browser context
    map_frame(viewer)
    assert viewer.get_by_test_id("stMetricValue").first.inner_text() != shown
    viewer.get_by_test_id("stSidebar").get_by_text(f"By {ANALYST.email}").wait_for()
    assert not viewer.get_by_text("Save the current view as").count()  # not a viewer's
    assert not viewer.get_by_text("Rename or delete").count()
    viewer.get_by_role("button", name="Open this view").click()
    viewer.wait_for_function(
        f"() => [...document.querySelectorAll('[data-testid=stMetricValue]')]"
        f".some(e => e.innerText === {shown!r})", timeout=60_000)
    # (the address follows in a message after the figures: waited for, not read at once)
    viewer.wait_for_function("() => location.href.includes('types=aircraft')",
                             timeout=30_000)
    # the lasting link opens it in a fresh page too
    viewer.goto(f"{url}/?shared={saved.view_id}")
    viewer.get_by_text("Signed in as").wait_for(timeout=60_000)
    assert viewer.get_by_test_id("stMetricValue").first.inner_text() == shown
    viewer.screenshot(path=str(ARTIFACTS / "sign-in-shared-view.png"))
    assert list(view_log(store)["who"]) == [ANALYST.email]
    analyst.context.close()
    viewer.context.close()


def test_a_role_taken_away_after_the_page_was_drawn_stops_its_buttons(site, browser):
    """The buttons of a page drawn for an analyst do nothing once the analyst's role is
    gone: the role is read again when they are clicked, not taken from the drawing; and
    what was refused is not done later, when the role is back."""
    _, _, store, secrets = site
    from geo.store.views import list_views, save_view

    roles = secrets.parent / "roles.csv"
    granted = roles.read_text(encoding="utf-8")

    def role_taken_away_then(click) -> None:
        runs_over(page)  # no run going on when the role goes
        roles.write_text(f"email,role\n{ANALYST.email},none\n", encoding="utf-8")
        try:
            click()
            page.get_by_text("has no Flankwatch role").wait_for(timeout=60_000)
        finally:
            roles.write_text(granted, encoding="utf-8")
        runs_over(page)  # the refusing run is over
        page.locator("body").press("r")  # Streamlit's key for a new run of the same page
        page.get_by_text("Signed in as").wait_for(timeout=60_000)
        page.get_by_text("has no Flankwatch role").wait_for(state="detached",
                                                            timeout=60_000)

    mine = save_view(store, "Analyst's own", {"types": "drone"}, ANALYST.email)
    page = sign_in(browser, site, ANALYST)
    map_frame(page)
    views = page.get_by_role("combobox", name="Views")
    views.click()
    views.fill("Analyst's own")
    views.press("Enter")
    page.get_by_test_id("stSidebar").get_by_text(re.compile(
        f"Link: .*{re.escape(mine.view_id)}")).wait_for(timeout=60_000)
    page.get_by_text("Rename or delete").click()
    drawn = query_of(page)
    role_taken_away_then(page.get_by_role("button", name="Delete").click)
    assert mine.view_id in {v.view_id for v in list_views(store)}
    page.get_by_label("Save the current view as").fill("Saved without a role")
    page.get_by_label("Save the current view as").press("Enter")
    role_taken_away_then(page.get_by_role("button", name="Save for the team").click)
    runs_over(page)  # the run after the role came back has finished
    names = {v.name for v in list_views(store)}
    assert "Analyst's own" in names
    assert "Saved without a role" not in names
    assert not page.locator(".fw-notice.fw-error").count()  # nothing left over either
    assert query_of(page) == drawn  # the filters and layers as they were before
    # the Import tab runs alone (a panel's own run skips the page's sign-in check): a
    # file checked for the analyst is not imported by a click made without the role
    upload = page.locator("input[type=file]")
    open_tab(page, "Import", upload)
    upload.set_input_files({"name": "late.csv", "mimeType": "text/csv",
                            "buffer": b"id,date,type,lat,lon,confidence\n"
                                      b"late-1,2025-08-01,drone,54.6,25.1,reported\n"})
    page.get_by_role("button", name="Import 1 valid row").wait_for(timeout=60_000)
    role_taken_away_then(page.get_by_role("button", name="Import 1 valid row").click)
    runs_over(page)
    assert store.incident("late-1") is None
    page.context.close()


def test_a_broken_secrets_file_refuses_everyone_and_never_opens_up(site, browser):
    """Last in this module: it breaks the server's secrets file, then mends it."""
    import time

    url, _, _, secrets = site
    viewer = sign_in(browser, site, VIEWER)
    map_frame(viewer)
    served = next(p.name for p in SELECTION_DIR.iterdir() if p.name.startswith("incidents-"))
    assert http(f"{url}/fw/data/{served}", cookies=cookies_of(viewer))[0] == 200
    good = secrets.read_text(encoding="utf-8")
    secrets.write_text(good + "\n[broken\n", encoding="utf-8")  # an edit half done
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the server reads the file again on change
            status = http(f"{url}/fw/data/{served}", cookies=cookies_of(viewer))[0]
            if status != 200:
                break
            time.sleep(0.5)
        assert status == 401  # not even the signed-in viewer, and surely not anyone
        assert http(f"{url}/fw/data/{served}")[0] == 401
        page = browser.new_context().new_page()
        page.goto(url)
        page.get_by_text("its settings cannot be read").wait_for(timeout=60_000)
        assert "Incidents shown" not in page.locator("body").inner_text()
        page.context.close()
    finally:
        secrets.write_text(good, encoding="utf-8")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and http(f"{url}/fw/data/{served}",
                                               cookies=cookies_of(viewer))[0] != 200:
        time.sleep(0.5)
    assert http(f"{url}/fw/data/{served}", cookies=cookies_of(viewer))[0] == 200
    viewer.context.close()
