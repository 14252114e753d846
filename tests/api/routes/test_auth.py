"""Sign-in for people: invite links, passwords, the session cookie, sign-out, and the
limit on wrong passwords. API tokens keep working beside them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from variance.appdb.models import SignInFailure, SignInLink, UserPassword
from variance.workspace import sign_in

PASSWORD = "correct horse battery"


def invite(api, user_id, purpose="invite", headers=None):
    response = api.client.post(
        f"/v1/users/{user_id}/sign-in-links", json={"purpose": purpose}, headers=headers or api.admin
    )
    return response


def accept(api, url, password=PASSWORD):
    token = url.rsplit("/", 1)[1]
    return api.client.post("/v1/sessions/accept-link", json={"token": token, "password": password})


def test_invite_link_sets_a_password_once_and_signs_in(api):
    user = api.new_user("Mia")
    link = invite(api, user["id"])
    assert link.status_code == 201, link.text
    assert link.json()["url"].startswith("https://variance.example.com/welcome/vlnk_")
    short = accept(api, link.json()["url"], "short")
    assert short.status_code == 400 and short.json()["error"]["field"] == "password"
    done = accept(api, link.json()["url"])
    assert done.status_code == 200 and done.json()["user_id"] == user["id"]
    cookie = done.headers["set-cookie"]
    assert "variance_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" in cookie  # the public URL is https
    assert accept(api, link.json()["url"]).status_code == 401  # one use
    with api.client.app.state.sessions() as session:
        stored = session.get(UserPassword, user["id"]).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_with_email_and_password_and_sign_out_needs_csrf(api):
    user = api.new_user("Mia")
    accept(api, invite(api, user["id"]).json()["url"])
    api.client.cookies.clear()
    wrong = api.client.post("/v1/sessions", json={"email": user["email"], "password": "not it at all"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    right = api.client.post("/v1/sessions", json={"email": user["email"].upper(), "password": PASSWORD})
    assert right.status_code == 200, right.text
    csrf = right.json()["csrf_token"]
    api.client.cookies.set("variance_session", right.cookies["variance_session"])
    assert api.client.delete("/v1/sessions").status_code == 403
    assert api.client.delete("/v1/sessions", headers={"X-CSRF-Token": csrf}).status_code == 204
    with api.client.app.state.sessions() as session:
        assert sign_in.session_principal(session, right.cookies["variance_session"]) is None
    # API tokens keep working
    assert api.client.get("/v1/me", headers=api.bearer(user["token"])).status_code == 200


def test_wrong_passwords_are_limited_per_email(api):
    user = api.new_user("Mia")
    accept(api, invite(api, user["id"]).json()["url"])
    for _ in range(sign_in.MAX_FAILURES):
        assert (
            api.client.post("/v1/sessions", json={"email": user["email"], "password": "guess guess"}).status_code == 401
        )
    limited = api.client.post("/v1/sessions", json={"email": user["email"], "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # an unknown email is counted and limited the same way, so it reveals nothing
    for _ in range(sign_in.MAX_FAILURES):
        api.client.post("/v1/sessions", json={"email": "nobody@example.com", "password": "guess guess"})
    assert api.client.post("/v1/sessions", json={"email": "nobody@example.com", "password": "x"}).status_code == 429
    # once the window has passed, the right password works again
    with api.client.app.state.sessions() as session, session.begin():
        for row in session.scalars(select(SignInFailure)):
            row.first_failed_at -= sign_in.FAILURE_WINDOW
    assert api.client.post("/v1/sessions", json={"email": user["email"], "password": PASSWORD}).status_code == 200


def test_links_are_for_admins_within_their_organisation_and_expire(api):
    member = api.new_user("Mia")
    other = api.new_user("Noa")
    assert invite(api, other["id"], headers=api.bearer(member["token"])).status_code == 403
    _, other_token = api.new_org()
    assert invite(api, member["id"], headers=api.bearer(other_token)).status_code == 404
    reset = invite(api, member["id"], "reset").json()["url"]
    with api.client.app.state.sessions() as session, session.begin():
        for row in session.scalars(select(SignInLink)):
            row.expires_at -= timedelta(days=8)
    assert accept(api, reset).status_code == 401
    # only the newest link works
    first = invite(api, member["id"]).json()["url"]
    second = invite(api, member["id"]).json()["url"]
    assert accept(api, first).status_code == 401 and accept(api, second).status_code == 200
    with api.client.app.state.sessions() as session:
        assert session.scalars(select(SignInLink).where(SignInLink.used_at.is_(None))).all() == []
