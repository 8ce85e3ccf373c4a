"""FastAPI dependencies: what a route handler gets from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.settings import ServerSettings
from api.supervisor import RunSupervisor
from archive import Archive


def get_archive(request: Request) -> Archive:
    return request.app.state.archive


def get_supervisor(request: Request) -> RunSupervisor:
    return request.app.state.supervisor


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


ArchiveDep = Annotated[Archive, Depends(get_archive)]
SupervisorDep = Annotated[RunSupervisor, Depends(get_supervisor)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
