"""The consent log's signing key file: one line, created 0600 on first start, refused when
others may read it or when it is another log's key (docs/consent-log.md, "Checkpoints and the
key")."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from policysite.collector.core.checkpoint import NoteError, Signer, generate_signer
from policysite.collector.core.files import PRIVATE, make_folder
from policysite.errors import PolicyError, Problem

KEY_FILE_HINT = (
    "the file holds one line, PRIVATE+KEY+<name>+<key id>+<key>, as the collector wrote it on "
    "first start: restore it from a backup, or move it away to make a new key (and publish "
    "the new public key as [consent] log_public_key in site.toml)"
)


def read_signer(path: Path, name: str) -> Signer:
    """The signing key in `path`, refused when others may read it or when it is not `name`'s.

    FileNotFoundError passes through: load_or_create_signer then makes the key.
    """
    try:
        with path.open("rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            data = file.read(4096)
    except FileNotFoundError:
        raise
    except OSError as e:
        hint = "run the collector as the user that owns the key file"
        raise PolicyError(Problem(path, f"cannot read the signing key: {e.strerror}", hint)) from e
    if mode & 0o077:
        message = (
            f"the consent log's signing key has mode {mode:04o}, not 0600: whoever can read "
            "it can sign checkpoints in the log's name"
        )
        hint = f"run `chmod 600 {path}`; if someone may have copied the key, make a new one"
        raise PolicyError(Problem(path, message, hint))
    try:
        signer = Signer.parse(data.decode("utf-8").strip())
    except (UnicodeDecodeError, NoteError) as e:
        raise PolicyError(Problem(path, f"not a signing key: {e}", KEY_FILE_HINT)) from None
    if signer.name != name:
        message = f"the key is {signer.name!r}'s, not the log {name!r}'s"
        raise PolicyError(Problem(path, message, KEY_FILE_HINT))
    return signer


def load_or_create_signer(path: Path, name: str) -> tuple[Signer, bool]:
    """The log's signing key from `path`, created (mode 0600) when there is none yet.

    `created` is True once, so that the caller prints the public key for site.toml. The key
    is written to a temporary file and linked into place, so that two collectors starting
    together end up with the same key and no reader ever sees half a key.
    """
    try:
        return read_signer(path, name), False
    except FileNotFoundError:
        pass
    signer, private_text, _ = generate_signer(name)
    make_folder(path.parent, PRIVATE)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        try:
            os.fchmod(fd, PRIVATE)  # whatever the umask
            os.write(fd, f"{private_text}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(temporary, path)  # never replaces a key: fails when `path` exists
    except FileExistsError:  # another process made the key first: use that one
        return read_signer(path, name), False
    finally:
        temporary.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)  # the new name survives a power cut
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return signer, True
