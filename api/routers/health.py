"""GET /healthz: the one route that needs no token."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from api.schemas import Health

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("clade")
    except PackageNotFoundError:
        return "unknown"


@router.get("/healthz", response_model=Health, summary="Liveness probe (no token needed)")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": _version()}
