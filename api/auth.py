"""Who may use the server: the holder of the API token.

- The token is made on the first start and kept in `CLADE_HOME/api_token`
  (mode 0600, created with O_EXCL so that two starts cannot race); it is
  printed once, when it is made.
- Programs send it as `Authorization: Bearer TOKEN`.
- A browser opens a login link once (`/login?token=...`, or the one-time
  `/login?code=...` that every `clade serve` start prints) and gets an
  HttpOnly, SameSite=Strict cookie. The cookie holds a value derived from
  the token, not the token itself.
- A state-changing request authenticated by the cookie must come from the
  server's own pages (its Origin, when the browser sends one, must be ours).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from archive import CladeHome
from archive.errors import CladeError

TOKEN_FILE = "api_token"
COOKIE_NAME = "clade_session"
LOGIN_CODE_SECONDS = 15 * 60
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def token_path(home: CladeHome) -> Path:
    return home.root / TOKEN_FILE


def ensure_token(home: CladeHome) -> tuple[str, bool]:
    """The API token, made if there is none yet; returns (token, created)."""
    home.ensure_writable()
    path = token_path(home)
    if path.exists() or path.is_symlink():
        return read_token(home), False
    token = secrets.token_urlsafe(32)
    # Written aside, then linked into place: a full disk or a crash never leaves an empty token file.
    draft = path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(4)}")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:  # another `clade serve` made it first
        return read_token(home), False
    except OSError as exc:
        raise CladeError(f"cannot write the API token {path} ({exc.strerror}): free space on that disk "
                         "or fix CLADE_HOME's permissions, then start `clade serve` again") from None
    finally:
        draft.unlink(missing_ok=True)
    return token, True


def read_token(home: CladeHome) -> str:
    path = token_path(home)
    try:
        info = path.lstat()
        if not path.is_file() or path.is_symlink():
            raise CladeError(f"{path} is not a regular file: remove it and start `clade serve` again")
        if info.st_mode & 0o077:
            path.chmod(0o600)  # someone widened it: the token is a password
        token = path.read_text().strip()
    except OSError as exc:
        raise CladeError(f"cannot read the API token {path} ({exc.strerror}): fix its permissions or remove it") from None
    if len(token) < 16:
        raise CladeError(f"the API token in {path} is too short: remove the file and start `clade serve` again")
    return token


@dataclass
class TokenAuth:
    """The token, the cookie value derived from it, and one-time login codes."""

    token: str
    _codes: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def session_value(self) -> str:
        return hmac.new(self.token.encode(), b"clade-browser-session", hashlib.sha256).hexdigest()

    def check_token(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def check_cookie(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.session_value.encode())

    def issue_login_code(self) -> str:
        """A code for one login link: single use, valid for 15 minutes."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            self._codes[code] = now + LOGIN_CODE_SECONDS
        return code

    def redeem_login_code(self, code: str | None) -> bool:
        if not code:
            return False
        with self._lock:
            for known in list(self._codes):
                if hmac.compare_digest(known.encode(), code.encode()):
                    expires = self._codes.pop(known)
                    return expires > time.monotonic()
        return False


# Declared as security schemes so that the OpenAPI document says how to
# authenticate; the check itself is `require_auth`.
bearer_scheme = HTTPBearer(auto_error=False, description="the token in CLADE_HOME/api_token")
cookie_scheme = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="set by /login")

UNAUTHORIZED = "authentication required: send `Authorization: Bearer TOKEN` (the token is in CLADE_HOME/api_token)"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # browsers send it on every cross-origin POST
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def require_auth(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> None:
    auth: TokenAuth = request.app.state.auth
    if bearer is not None and auth.check_token(bearer.credentials):
        return
    if auth.check_cookie(cookie):
        if request.method not in SAFE_METHODS and not _same_origin(request):
            raise HTTPException(403, "cross-site request refused: use the server's own pages or a bearer token")
        return
    raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
