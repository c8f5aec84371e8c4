"""API keys: who may call the prediction routes and the admin routes.

Keys come from environment variables and/or a secrets file (see
:class:`shipyard.spec.serving.Auth`). Only their SHA-256 digests are kept, so a
key cannot leak through a repr, a log line or an error message; a sent key is
hashed once and compared in constant time with every configured digest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.spec.serving import Auth

MIN_KEY_LENGTH = 16
CHALLENGE = (b"www-authenticate", b'Bearer realm="shipyard"')  # the raw ASGI header for 401s
_HOW = "send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
_MAKE_KEY = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class AuthConfigError(ShipyardError):
    """The keys the serve section asks for are missing, unreadable or malformed."""


@dataclass(frozen=True)
class Keys:
    """The configured keys, as digests. Build with :meth:`Keys.load`."""

    open_predict: bool
    api: tuple[bytes, ...] = field(default=(), repr=False)
    admin: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def load(cls, auth: Auth, root: Path,
             environ: Mapping[str, str] = os.environ) -> Keys:
        """Read the keys that ``auth`` names: ``root`` is the project file's folder
        (where a relative ``secrets_file`` starts). Raises :class:`AuthConfigError`."""
        api: list[str] = []
        admin: list[str] = []
        raw_api = environ.get(auth.keys_env, "")
        api += _checked([k.strip() for k in raw_api.split(",") if k.strip()],
                        f"the environment variable {auth.keys_env}")
        raw_admin = environ.get(auth.admin_key_env, "").strip()
        admin += _checked([raw_admin] if raw_admin else [],
                          f"the environment variable {auth.admin_key_env}")
        if auth.secrets_file is not None:
            file_api, file_admin = read_secrets(_resolve(root, auth.secrets_file))
            api += file_api
            admin += file_admin
        if auth.predict == "keyed" and not api:
            where = f"the environment variable {auth.keys_env}"
            if auth.secrets_file is not None:
                where += f" or 'api:' lines in {auth.secrets_file}"
            raise AuthConfigError(
                "serve.auth.predict is 'keyed' but no API key is configured",
                hint=f"set {where} (comma-separated keys); {_MAKE_KEY}")
        if set(api) & set(admin):
            raise AuthConfigError("the admin key is also configured as an API key",
                                  hint="an API key must not open the admin routes: "
                                       "give the admin a key of its own")
        return cls(open_predict=auth.predict == "open",
                   api=tuple(_digest(k.encode()) for k in dict.fromkeys(api)),
                   admin=tuple(_digest(k.encode()) for k in dict.fromkeys(admin)))

    def check(self, headers: Iterable[tuple[bytes, bytes]], *,
              admin: bool) -> tuple[int, str] | None:
        """None when a request with these raw ASGI ``headers`` (lower-case names)
        may go on; else (401, message) when it sent no key, (403, message) when
        its key is wrong or not enough. Messages never contain the sent key."""
        if not admin and self.open_predict:
            return None
        if admin and not self.admin:
            return 403, "admin routes are disabled: no admin key configured"
        sent = sent_key(headers)
        if sent is None:
            return 401, f"missing {'admin' if admin else 'API'} key: {_HOW}"
        digest = _digest(sent)
        if _matches(digest, self.admin):
            return None
        if _matches(digest, self.api):
            return None if not admin else (403, "this route needs the admin key, "
                                                "an API key is not enough")
        return 403, f"invalid {'admin' if admin else 'API'} key"


def sent_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The key in ``Authorization: Bearer KEY`` or, failing that, ``X-API-Key``."""
    bearer = other = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and rest.strip():
                bearer = rest.strip()
        elif name == b"x-api-key" and value.strip():
            other = value.strip()
    return bearer if bearer is not None else other


def headers_for(status: int) -> dict[str, str]:
    """Extra response headers for a refusal: a 401 says how to authenticate."""
    return {CHALLENGE[0].decode(): CHALLENGE[1].decode()} if status == 401 else {}


def read_secrets(path: Path) -> tuple[list[str], list[str]]:
    """(API keys, admin keys) from a file of ``api: KEY`` / ``admin: KEY`` lines;
    blank lines and ``#`` comments are skipped. The file must be private to its
    owner. Errors name the line, never its content (it holds a key)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthConfigError(f"no secrets file at {path}",
                              hint="write 'api: KEY' and 'admin: KEY' lines to it, "
                                   f"or remove serve.auth.secrets_file; {_MAKE_KEY}") from None
    except UnicodeDecodeError:
        raise AuthConfigError(f"the secrets file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise AuthConfigError(f"cannot read the secrets file {path}: {exc.strerror}") from None
    # POSIX only: other systems have no group/other permission bits to check.
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthConfigError(
            f"the secrets file {path} can be read or changed by other users "
            f"(mode {stat.filemode(mode)})", hint=f"run: chmod 600 {path}")
    api: list[str] = []
    admin: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        role, colon, key = line.partition(":")
        role, key = role.strip(), key.strip()
        if not colon or role not in ("api", "admin"):
            raise AuthConfigError(f"{path}:{number}: expected 'api: KEY' or 'admin: KEY'")
        if not key:
            raise AuthConfigError(f"{path}:{number}: the key after '{role}:' is empty")
        (api if role == "api" else admin).append(key)
        _checked([key], f"{path}:{number}")
    return api, admin


def _checked(keys: list[str], where: str) -> list[str]:
    for key in keys:
        if len(key) < MIN_KEY_LENGTH:
            raise AuthConfigError(f"{where}: a key has {len(key)} characters, "
                                  f"at least {MIN_KEY_LENGTH} are needed", hint=_MAKE_KEY)
        if not key.isascii() or not key.isprintable() or "," in key:
            raise AuthConfigError(f"{where}: a key holds a character that cannot travel in "
                                  "an HTTP header (non-ASCII, control or ',')", hint=_MAKE_KEY)
    return keys


def _resolve(root: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else root / path


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def _matches(digest: bytes, known: tuple[bytes, ...]) -> bool:
    # Every digest is compared, whatever matched first: the time says nothing of which.
    found = False
    for candidate in known:
        found |= hmac.compare_digest(digest, candidate)
    return found
