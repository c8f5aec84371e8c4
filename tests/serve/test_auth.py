"""API keys: where they come from, and who each route lets through."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shipyard.serve.auth import AuthConfigError, Keys, headers_for, read_secrets
from shipyard.spec.serving import Auth

API = "api-key-0123456789abcdef"
API_2 = "api-key-second-0123456789"
ADMIN = "admin-key-0123456789abcdef"
ENV = {"SHIPYARD_API_KEYS": f" {API} , {API_2} ", "SHIPYARD_ADMIN_KEY": ADMIN}


def keyed(environ: dict[str, str] = ENV, **auth) -> Keys:
    return Keys.load(Auth(predict="keyed", **auth), Path("."), environ)


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"localhost"), (b"authorization", f"Bearer {key}".encode())]


def x_api_key(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-api-key", key.encode()), (b"content-type", b"application/json")]


@pytest.mark.parametrize("send", [bearer, x_api_key])
def test_api_keys_open_predict_routes(send):
    keys = keyed()
    assert keys.check(send(API), admin=False) is None
    assert keys.check(send(API_2), admin=False) is None
    assert keys.check(send(ADMIN), admin=False) is None  # the admin may do everything


def test_bearer_scheme_is_case_insensitive_and_wins_over_x_api_key():
    keys = keyed()
    assert keys.check([(b"authorization", f"bearer {API}".encode())], admin=False) is None
    both = [(b"authorization", f"Bearer {ADMIN}".encode()), (b"x-api-key", API.encode())]
    assert keys.check(both, admin=True) is None


@pytest.mark.parametrize("headers", [
    [],
    [(b"authorization", b"Basic dXNlcjpwYXNz")],  # not a bearer token: no key was sent
    [(b"authorization", b"Bearer   ")],
    [(b"x-api-key", b"")],
])
def test_no_key_is_401_and_says_how_to_send_one(headers):
    status, message = keyed().check(headers, admin=False)
    assert status == 401
    assert "Authorization: Bearer KEY" in message and "X-API-Key" in message
    assert headers_for(401) == {"www-authenticate": 'Bearer realm="shipyard"'}
    assert headers_for(403) == {}


@pytest.mark.parametrize("send", [bearer, x_api_key])
def test_wrong_key_is_403_and_never_echoed(send):
    sent = "wrong-key-ZZZZ-0123456789"
    status, message = keyed().check(send(sent), admin=False)
    assert status == 403 and message == "invalid API key"
    assert sent not in message
    status, message = keyed().check(send(sent), admin=True)
    assert status == 403 and sent not in message


def test_admin_routes_need_the_admin_key():
    keys = keyed()
    assert keys.check(bearer(ADMIN), admin=True) is None
    assert keys.check(x_api_key(ADMIN), admin=True) is None
    status, message = keys.check(bearer(API), admin=True)
    assert status == 403 and "needs the admin key" in message
    status, message = keys.check([], admin=True)
    assert status == 401 and message.startswith("missing admin key")


def test_open_predict_needs_no_key_but_admin_routes_still_do():
    keys = Keys.load(Auth(), Path("."), {"SHIPYARD_ADMIN_KEY": ADMIN})
    assert keys.check([], admin=False) is None
    assert keys.check(bearer("anything at all here"), admin=False) is None
    assert keys.check([], admin=True)[0] == 401
    assert keys.check(bearer(ADMIN), admin=True) is None


@pytest.mark.parametrize("predict", ["open", "keyed"])
def test_without_an_admin_key_admin_routes_are_disabled(predict):
    keys = Keys.load(Auth(predict=predict), Path("."), {"SHIPYARD_API_KEYS": API})
    for headers in ([], bearer(API), bearer(ADMIN)):
        assert keys.check(headers, admin=True) == (
            403, "admin routes are disabled: no admin key configured")


def test_keys_come_from_the_named_variables():
    environ = {"MY_KEYS": API, "MY_ADMIN": ADMIN}
    keys = keyed(environ, keys_env="MY_KEYS", admin_key_env="MY_ADMIN")
    assert keys.check(bearer(API), admin=False) is None
    assert keys.check(bearer(ADMIN), admin=True) is None


def test_keys_do_not_show_in_repr():
    text = repr(keyed())
    assert API not in text and ADMIN not in text and "api=" not in text


def test_keyed_predict_without_api_keys_is_refused():
    with pytest.raises(AuthConfigError) as caught:
        keyed({"SHIPYARD_ADMIN_KEY": ADMIN})
    assert "'keyed' but no API key is configured" in caught.value.headline
    assert "SHIPYARD_API_KEYS" in caught.value.hint


def test_short_keys_and_an_admin_key_reused_as_api_key_are_refused():
    with pytest.raises(AuthConfigError, match="a key has 5 characters, at least 16"):
        keyed({"SHIPYARD_API_KEYS": "short"})
    with pytest.raises(AuthConfigError, match="admin key is also configured as an API key"):
        keyed({"SHIPYARD_API_KEYS": ADMIN, "SHIPYARD_ADMIN_KEY": ADMIN})


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_secrets_file_is_read_relative_to_the_project(tmp_path: Path):
    private_file(tmp_path / "keys.txt", f"# serving keys\n\napi: {API}\n  admin:{ADMIN}  \n"
                                        f"api: {API_2}\n")
    keys = Keys.load(Auth(predict="keyed", secrets_file="keys.txt"), tmp_path, {})
    assert keys.check(bearer(API_2), admin=False) is None
    assert keys.check(bearer(ADMIN), admin=True) is None
    assert keys.check(bearer(API), admin=True)[0] == 403


def test_secrets_file_and_environment_add_up(tmp_path: Path):
    private_file(tmp_path / "keys.txt", f"admin: {ADMIN}\n")
    keys = Keys.load(Auth(predict="keyed", secrets_file="keys.txt"), tmp_path,
                     {"SHIPYARD_API_KEYS": API})
    assert keys.check(bearer(API), admin=False) is None
    assert keys.check(bearer(ADMIN), admin=True) is None


@pytest.mark.parametrize("text, line, message", [
    (f"api: {API}\n# ok\nthe-key-alone-0123456789\n", 3, "expected 'api: KEY' or 'admin: KEY'"),
    (f"api: {API}\nroot: {ADMIN}\n", 2, "expected 'api: KEY' or 'admin: KEY'"),
    ("admin:\n", 1, "the key after 'admin:' is empty"),
    (f"\n\napi: {API}\napi: tiny\n", 4, "a key has 4 characters"),
])
def test_secrets_file_errors_name_the_line_not_the_key(tmp_path: Path, text, line, message):
    path = private_file(tmp_path / "keys.txt", text)
    with pytest.raises(AuthConfigError) as caught:
        read_secrets(path)
    assert f"{path}:{line}: {message}" in str(caught.value)
    assert ADMIN not in str(caught.value) and "the-key-alone" not in str(caught.value)


def test_missing_secrets_file(tmp_path: Path):
    with pytest.raises(AuthConfigError) as caught:
        Keys.load(Auth(secrets_file="nope/keys.txt"), tmp_path, {})
    assert caught.value.headline == f"no secrets file at {tmp_path / 'nope' / 'keys.txt'}"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_secrets_file_others_can_open_is_refused(tmp_path: Path, mode: int):
    path = private_file(tmp_path / "keys.txt", f"api: {API}\n", mode)
    with pytest.raises(AuthConfigError) as caught:
        read_secrets(path)
    assert "can be read or changed by other users" in caught.value.headline
    assert caught.value.hint == f"run: chmod 600 {path}"


def test_check_is_cheap():
    keys = keyed()
    headers = [(b"host", b"localhost:8000"), (b"content-type", b"application/json"),
               (b"content-length", b"120"), *bearer(API)]
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        keys.check(headers, admin=False)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per check"  # a few µs; loose for CI
