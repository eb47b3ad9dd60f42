"""Signing in and out: hashed passwords, session cookies, CSRF tokens, guessing brake, roles."""

from __future__ import annotations

import re

import pytest

from polku.errors import InvalidInput, NotFound
from polku.web import passwords, users
from polku.web.signin import Throttle

from .conftest import PASSWORD, Web


def test_passwords_are_salted_scrypt_hashes() -> None:
    a, b = passwords.hash_password("s3cret-pass"), passwords.hash_password("s3cret-pass")
    assert a != b and a.startswith("scrypt$16384$8$1$") and "s3cret" not in a
    assert passwords.verify_password("s3cret-pass", a) and not passwords.verify_password("s3cret-pasS", a)
    assert not passwords.verify_password("x", "md5$abc")


def test_pages_send_strangers_to_sign_in(web: Web) -> None:
    r = web.client.get("/overview", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Foverview"
    web.sign_in("ann")
    r = web.client.get("/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/overview"  # already signed in: sent on
    assert web.client.get("/logout").status_code == 405  # GET is not a way to sign out


def test_session_cookie_flags_and_server_side_session(web: Web) -> None:
    form = web.client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = web.client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf": token, "next": "//evil.example/x"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/overview"  # no open redirect
    set_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("polku_session=")][0]
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/" in set_cookie
    value = set_cookie.split(";")[0].split("=", 1)[1]
    stored = web.ws.store.query("SELECT session_hash FROM sessions")
    assert value not in {s["session_hash"] for s in stored}  # only a hash is kept
    assert users.find_session(web.ws.store, value).name == "vic"  # type: ignore[union-attr]
    page = web.client.get("/overview")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert page.headers["x-frame-options"] == "DENY"
    r = web.client.post("/logout", data={"csrf": web.csrf()}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert users.find_session(web.ws.store, value) is None
    web.client.cookies.set("polku_session", value)  # a stolen cookie is dead after sign-out
    assert web.client.get("/overview", follow_redirects=False).status_code == 303


def test_wrong_password_and_forged_login_form_are_refused(web: Web) -> None:
    form = web.client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = web.client.post("/login", data={"name": "ann", "password": "nope-nope-nope", "csrf": token})
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = web.client.post("/login", data={"name": "ghost", "password": PASSWORD, "csrf": token})
    assert r.status_code == 401 and "Wrong user name or password" in r.text  # same answer for unknown names
    web.client.cookies.clear()
    r = web.client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": token})
    assert r.status_code == 403 and "polku_session" not in r.headers.get("set-cookie", "")


def test_state_changing_forms_need_the_csrf_token(web: Web) -> None:
    web.sign_in("ann")
    r = web.client.post("/users", data={"name": "eve", "role": "admin", "csrf": "forged"})
    assert r.status_code == 403 and "security token" in r.text
    r = web.client.post("/users", data={"name": "eve", "role": "admin", "csrf": web.csrf()},
                        headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.text
    assert "eve" not in {u["name"] for u in users.list_users(web.ws.store)}


def test_guessing_passwords_is_slowed_down() -> None:
    t = Throttle(limit=3, window=60)
    for _ in range(3):
        assert t.blocked("ip:1", "user:a") == 0
        t.fail("ip:1", "user:a")
    assert t.blocked("ip:1") > 0 and t.blocked("user:a") > 0 and t.blocked("ip:2") == 0


def test_roles_map_to_scopes_and_are_enforced(web: Web) -> None:
    web.sign_in("vic")
    assert web.client.get("/overview").status_code == 200
    r = web.client.get("/users")
    assert r.status_code == 403 and "viewer" in r.text
    assert "/users" not in web.client.get("/overview").text  # not offered in the navigation either
    web.client.cookies.clear()
    web.sign_in("ann")
    assert web.client.get("/users").status_code == 200


def test_user_rules(web: Web) -> None:
    store = web.ws.store
    with pytest.raises(InvalidInput, match="already a user"):
        users.create_user(store, "ann", "viewer", PASSWORD)
    with pytest.raises(InvalidInput, match="role must be one of"):
        users.create_user(store, "zed", "root", PASSWORD)
    with pytest.raises(InvalidInput, match="at least 10"):
        users.create_user(store, "zed", "viewer", "short")
    with pytest.raises(InvalidInput, match="user name"):
        users.create_user(store, "no spaces", "viewer", PASSWORD)
    with pytest.raises(InvalidInput, match="last admin"):
        users.delete_user(store, "ann")
    with pytest.raises(InvalidInput, match="last admin"):
        users.set_role(store, "ann", "viewer")
    with pytest.raises(NotFound):
        users.delete_user(store, "ghost")


def test_expired_sessions_are_refused(web: Web) -> None:
    token = users.start_session(web.ws.store, "vic", hours=-1)
    assert users.find_session(web.ws.store, token) is None
    web.client.cookies.set("polku_session", token)
    assert web.client.get("/overview", follow_redirects=False).status_code == 303


def test_admin_manages_users_and_role_changes_apply_at_once(web: Web) -> None:
    web.sign_in("ann")
    r = web.client.post("/users", data={"name": "tess", "role": "viewer", "csrf": web.csrf()})
    assert r.status_code == 201
    one_time = re.search(r'id="new-password">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    tess = users.start_session(web.ws.store, "tess")
    assert users.check_password(web.ws.store, "tess", one_time) == "viewer"
    r = web.client.post("/users/tess/role", data={"role": "marketer", "csrf": web.csrf()}, follow_redirects=False)
    assert r.status_code == 303
    assert users.find_session(web.ws.store, tess).role == "marketer"  # type: ignore[union-attr]
    users_csv = web.client.get("/users?export=users").text
    assert "tess,marketer" in users_csv
    r = web.client.post("/users/tess/delete", data={"csrf": web.csrf()}, follow_redirects=False)
    assert r.status_code == 303 and users.find_session(web.ws.store, tess) is None
