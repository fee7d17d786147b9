"""What every part of the web app shares, kept on the app: the loaded library, the render engine,
the batches and the settings; and the small page helpers built on them."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app

from ..library.gather import Library
from . import security
from .batch import Jobs
from .config import Settings
from .handout import Engine
from .theme import Theme, theme_for

KEY = "handoutgen"  # app.extensions[KEY]: engine, jobs, settings, token and clinics


def install(app: Flask, settings: Settings, library: Library, token: str | None) -> None:
    """Keep the app's shared parts where every blueprint finds them."""
    app.extensions[KEY] = {
        "engine": Engine(library, settings.preview_dpi),
        "jobs": Jobs(settings.root, settings.clinic, settings.jobs, settings.session_minutes * 60,
                     settings.clock),
        "settings": settings,
        "token": token,
        "clinics": sorted(library.clinics) if settings.clinic is None else [settings.clinic],
    }


def _shared() -> dict[str, Any]:
    shared: dict[str, Any] = current_app.extensions[KEY]
    return shared


def engine() -> Engine:
    """The loaded library and the render lock."""
    found: Engine = _shared()["engine"]
    return found


def library() -> Library:
    """The library loaded when the server started."""
    return engine().library


def jobs() -> Jobs:
    """The batches running or waiting to be downloaded."""
    found: Jobs = _shared()["jobs"]
    return found


def settings() -> Settings:
    """How this app runs."""
    found: Settings = _shared()["settings"]
    return found


def clinics() -> list[str]:
    """The clinics this page serves."""
    found: list[str] = _shared()["clinics"]
    return found


def clinic_or_404(clinic_id: str) -> str:
    """A clinic this page serves; any other answers 404."""
    if clinic_id not in clinics():
        abort(404, "There is no such clinic on this page.")
    return clinic_id


def page_theme(clinic_id: str | None) -> Theme | None:
    """The clinic's colours and logo for a page (the only clinic's when there is one)."""
    served = clinics()
    if clinic_id is None and len(served) == 1:
        clinic_id = served[0]
    return theme_for(library().clinics[clinic_id]) if clinic_id else None


def owner() -> str:
    """Who may see a batch: the session that started it."""
    return security.session_token("sid")
