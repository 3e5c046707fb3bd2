"""Interface languages: English (the source strings) and Simplified Chinese.

Translations are kept as ``.po`` text under ``controlplane/web/translations``
(reviewable in a diff). Compiled ``.mo`` files are not kept in git: on app
start each ``.po`` newer than its compiled copy is compiled into
``<state_dir>/i18n`` (a few milliseconds), so a fresh clone works with no
build step. The language is the user's choice (``User.language``), else the
browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Flask, g, request
from flask_babel import Babel

SOURCE = Path(__file__).parent / "translations"
SUPPORTED = ("en", "zh_CN")


def compile_translations(target: Path, source: Path = SOURCE) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``source`` into ``target`` when stale.

    Returns the folder to give Flask-Babel. Writes through a temporary file and
    a rename so a concurrent start never reads half a catalogue.
    """
    from babel import Locale
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in source.glob("*/LC_MESSAGES/*.po"):
        folder = po_path.parts[-3]
        # Flask-Babel looks catalogues up by the locale's canonical name, which
        # for zh_CN is zh_Hans_CN (CLDR adds the script): compile under both.
        names = {folder, str(Locale.parse(folder))}
        catalog = None
        for name in sorted(names):
            mo_path = target / name / "LC_MESSAGES" / po_path.with_suffix(".mo").name
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            if catalog is None:
                with po_path.open("rb") as handle:
                    catalog = read_po(handle, locale=folder)
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=mo_path.parent, delete=False) as out:
                write_mo(out, catalog)
            Path(out.name).replace(mo_path)
    return target


def select_locale() -> str:
    """Return the request's language: the user's setting, else Accept-Language, else English."""
    user = g.get("egov_user")
    if user is not None and getattr(user, "language", None) in SUPPORTED:
        return str(user.language)
    return request.accept_languages.best_match(SUPPORTED, default="en") or "en"


def init_app(app: Flask, state_dir: Path) -> None:
    """Compile the catalogues and set up Flask-Babel on the app."""
    target = state_dir / "i18n"
    try:
        target.mkdir(parents=True, exist_ok=True)
        folder = compile_translations(target)
    except OSError:
        # A read-only state folder (a test, a container): compile somewhere private instead.
        folder = compile_translations(Path(tempfile.mkdtemp(prefix="egov-i18n-")))
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(folder)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
