"""The broker's password file and the files' owner, for `hazmon broker-config`.

- A password is 32 random URL-safe characters (192 bits), made here and shown once.
- It is hashed by Mosquitto's own `mosquitto_passwd -U` on a 0600 temporary file, so
  no password ever appears on a command line (`ps` shows those to every user).
- Users whose hash is already in the password file keep it (their gateways keep
  working) unless they are rotated; users gone from the registry are dropped.
- Files are written whole (temporary file, then rename) with their final mode and
  owner set before the rename: there is no moment at which they are readable by others.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hazmon.contract.errors import HazmonError

PASSWD_BINARY = "mosquitto_passwd"
BROKER_USER = "mosquitto"  # Mosquitto started as root drops to this user (docs/contract.md §9)


class PasswdError(HazmonError):
    """The password file could not be made."""


def new_secret() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class Owner:
    """Who the broker runs as: the files it reads are given to it."""

    uid: int
    gid: int
    name: str


def resolve_owner(spec: str | None) -> Owner | None:
    """`spec` is a user name or a numeric uid (a container's, e.g. 1883).

    Without one: the `mosquitto` user when running as root and it exists (Mosquitto
    drops to it), else None (the files stay the current user's).
    """
    if spec is None:
        if os.geteuid() != 0:
            return None
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(BROKER_USER)
            return Owner(entry.pw_uid, entry.pw_gid, entry.pw_name)
        return None
    if spec.isdigit():
        uid = int(spec)
        try:
            entry = pwd.getpwuid(uid)
            return Owner(uid, entry.pw_gid, entry.pw_name)
        except KeyError:
            return Owner(uid, uid, f"uid {uid}")
    try:
        entry = pwd.getpwnam(spec)
    except KeyError:
        raise PasswdError(f"no user {spec!r} on this machine (give a numeric uid)") from None
    return Owner(entry.pw_uid, entry.pw_gid, entry.pw_name)


def read_hashes(path: Path) -> dict[str, str]:
    """user -> its line, from an existing password file (empty if there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswdError(f"cannot read the existing password file {path}: {exc}") from exc
    found: dict[str, str] = {}
    for line in text.splitlines():
        user, sep, digest = line.partition(":")
        if sep and user and not user.startswith("#") and digest.startswith("$"):
            found[user] = line
    return found


def hash_passwords(plain: Mapping[str, str], *, workdir: Path) -> dict[str, str]:
    """user -> `user:$7$...` line, hashed by `mosquitto_passwd -U` (never via argv)."""
    if not plain:
        return {}
    binary = shutil.which(PASSWD_BINARY)
    if binary is None:
        raise PasswdError(f"{PASSWD_BINARY} not found (Debian package `mosquitto`)")
    fd, name = tempfile.mkstemp(dir=workdir, prefix=".passwd-plain-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(f"{user}:{password}\n" for user, password in plain.items())
        done = subprocess.run(
            [binary, "-U", name], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise PasswdError(f"{PASSWD_BINARY} -U failed: {done.stderr.strip()}")
        hashed = read_hashes(Path(name))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    missing = set(plain) - set(hashed)
    if missing:
        raise PasswdError(f"{PASSWD_BINARY} did not hash {', '.join(sorted(missing))}")
    return hashed


@dataclass(frozen=True, slots=True)
class Passwords:
    lines: dict[str, str]  # user -> hashed line, in the order of the plan
    new_secrets: dict[str, str]  # user -> password, for users given a new one
    kept: list[str]
    removed: list[str]


def plan_passwords(
    users: Iterable[str], existing: Mapping[str, str], *, rotate: Iterable[str], workdir: Path
) -> Passwords:
    """Keep existing hashes, make secrets for new or rotated users, drop the others."""
    names = list(users)
    rotating = set(rotate)
    rotate_all = "all" in rotating
    unknown = rotating - set(names) - {"all"}
    if unknown:
        raise PasswdError(f"--rotate names no user of this configuration: {sorted(unknown)}")
    fresh = {
        name: new_secret()
        for name in names
        if rotate_all or name in rotating or name not in existing
    }
    hashed = hash_passwords(fresh, workdir=workdir)
    lines = {name: hashed.get(name) or existing[name] for name in names}
    kept = [name for name in names if name not in fresh]
    removed = sorted(set(existing) - set(names))
    return Passwords(lines, fresh, kept, removed)


def write_file(path: Path, text: str, *, mode: int, owner: Owner | None) -> None:
    """Write `path` whole, with `mode` and `owner` set before it appears under its name."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), owner.uid, owner.gid)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def write_secrets(folder: Path, new_secrets: Mapping[str, str]) -> list[Path]:
    """One file per user in `folder` (0700), named after the user and holding its
    password alone (0600): what HAZMON_MQTT_PASSWORD_FILE (and a gateway's) reads."""
    if folder.exists() and not folder.is_dir():
        raise PasswdError(f"--secrets-out {folder} is a file: give a folder (one file per "
                          "user, holding its password alone)")  # fmt: skip
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    written = []
    for user, password in new_secrets.items():
        path = folder / user
        write_file(path, password + "\n", mode=0o600, owner=None)
        written.append(path)
    return written


def unreachable(path: Path, owner: Owner | None) -> str | None:
    """Why `owner` could not read `path` (every folder above searchable, the file
    readable), None if it can or if there is no owner to check for."""
    if owner is None or owner.uid == 0:
        return None
    groups = {owner.gid} | {g.gr_gid for g in grp.getgrall() if owner.name in g.gr_mem}
    target = path.resolve()
    for part in [*reversed(target.parents), target]:
        try:
            st = part.stat()
        except OSError as exc:
            return f"{part}: {exc.strerror}"
        need = stat.S_IXOTH if part != target else stat.S_IROTH
        if st.st_uid == owner.uid:
            need <<= 6
        elif st.st_gid in groups:
            need <<= 3
        if not st.st_mode & need:
            what = "search" if part != target else "read"
            return f"{owner.name} may not {what} {part}"
    return None


__all__ = [
    "BROKER_USER",
    "Owner",
    "PasswdError",
    "Passwords",
    "hash_passwords",
    "new_secret",
    "plan_passwords",
    "read_hashes",
    "resolve_owner",
    "unreachable",
    "write_file",
    "write_secrets",
]
