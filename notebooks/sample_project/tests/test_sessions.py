import pytest
from inventory import SessionStore, sessions


@pytest.fixture
def store():
    return SessionStore(30)


def test_a_new_session_names_its_user(store):
    token = store.create("ada")
    assert store.user(token) == "ada"


def test_each_session_gets_its_own_token(store):
    assert store.create("ada") != store.create("ada")


def test_an_unknown_token_has_no_user(store):
    assert store.user("not-a-token") is None


def test_a_session_expires_after_its_lifetime(store, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(sessions.time, "time", lambda: now[0])
    token = store.create("ada")
    now[0] += 29 * 60
    assert store.user(token) == "ada"
    now[0] += 2 * 60
    assert store.user(token) is None
    now[0] -= 10 * 60  # an expired session is forgotten, not only hidden
    assert store.user(token) is None
