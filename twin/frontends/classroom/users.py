"""A class's users file: who may log in over SSH, how, and in which role.

```yaml
users:
  ada: {role: instructor, password: "<hash printed by `twin passwd`>"}
  bo:  {role: trainee, keys: ["ssh-ed25519 AAAA... bo@laptop"]}
  cy:  {role: observer, password: "<hash>"}
```

Passwords are stored as argon2id hashes (argon2-cffi: salted, memory-hard); a plain or
unknown hash is refused when the file is read, so a typo never becomes an open door.
Mistakes are reported as ``FILE:LINE: message``, all at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from twin.core.api import Reader, load_file

ROLES = ("instructor", "trainee", "observer")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str | None  # an argon2 hash
    keys: tuple[str, ...]  # OpenSSH public keys, one line each


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def check_password(user: User, password: str) -> bool:
    if user.password is None:
        return False
    from argon2 import PasswordHasher
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        return PasswordHasher().verify(user.password, password)
    except (Argon2Error, InvalidHashError):
        return False


def load_users(path: str | Path) -> dict[str, User]:
    path = Path(path)
    doc = load_file(path)
    r = Reader(str(path))
    out: dict[str, User] = {}
    top = r.mapping(doc, "users file", 1)
    if top is not None:
        r.only(top, ["users"], "users file")
        users = (
            r.mapping(top.get("users"), "users", top.line_of("users")) if "users" in top else None
        )
        if "users" not in top:
            r.error(top.line, "users file: missing required key 'users'")
        for name, spec in (users or {}).items():
            user = _user(r, users, str(name), spec)
            if user is not None:
                out[user.name] = user
        if users is not None and not users:
            r.error(users.line, "users: no users listed")
    r.raise_if_any()
    return out


def _user(r: Reader, users, name: str, spec) -> User | None:
    line = users.line_of(name)
    where = f"users.{name}"
    if not _NAME.match(name):
        r.error(line, f"{where}: a name is 1-32 letters, digits, '.', '_' or '-'")
        return None
    m = r.mapping(spec, where, line)
    if m is None:
        return None
    r.only(m, ["role", "password", "keys"], where)
    role = r.get(m, "role", str, where)
    if role is not None and role not in ROLES:
        r.error(m.line_of("role"), f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
        role = None
    password = r.get(m, "password", str, where, default=None)
    if password is not None and not password.startswith("$argon2"):
        r.error(
            m.line_of("password"),
            f"{where}.password: not an argon2 hash (write one with `twin passwd`; a plain "
            "password is never accepted)",
        )
        password = None
    keys: list[str] = []
    if "keys" in m:
        seq = r.sequence(m["keys"], f"{where}.keys", m.line_of("keys"))
        for i, k in enumerate(seq or []):
            if not _key_ok(str(k)):
                r.error(
                    seq.line_of(i),
                    f"{where}.keys[{i}]: not an OpenSSH public key (ssh-ed25519 AAAA… comment)",
                )
            else:
                keys.append(str(k).strip())
    if password is None and not keys and "password" not in m and "keys" not in m:
        r.error(line, f"{where}: give a password (twin passwd) or keys, or both")
    if role is None:
        return None
    return User(name, role, password, tuple(keys))


def _key_ok(text: str) -> bool:
    import asyncssh

    try:
        asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError):
        return False
    return True
