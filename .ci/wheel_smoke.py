"""Check an installed wheel of PartnerMatch: its package data, then one search in auto mode.

Run by .ci/wheel-smoke from outside the checkout, with the folder the wheel was installed into
first on PYTHONPATH: `python wheel_smoke.py SITE`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import partnermatch

LOCALES = ("es", "id", "vi", "zh_Hant")
PACKAGE_DATA = (
    "matching/calibration.json",  # the multilingual score maps read in auto mode
    "matching/strength.json",
    "demo/profiles-a.jsonl",
    "demo/profiles-b.jsonl",
    *(
        f"translations/{locale}/LC_MESSAGES/messages.{ext}"
        for locale in LOCALES
        for ext in "po mo".split()
    ),
)


def main(site: Path) -> None:
    package = Path(partnermatch.__file__).resolve().parent
    if not package.is_relative_to(site):
        sys.exit(f"imported {package}, not the wheel's copy under {site}")
    missing = [name for name in PACKAGE_DATA if not (package / name).is_file()]
    if missing:
        sys.exit("missing from the wheel: " + ", ".join(f"partnermatch/{n}" for n in missing))

    from partnermatch import create_app
    from partnermatch.demo import load_demo
    from partnermatch.extensions import db
    from partnermatch.matching.extension import get_engine
    from partnermatch.matching.multilingual import get_calibration
    from partnermatch.matching.search import search

    get_calibration()  # read from the installed package, as auto mode does

    with tempfile.TemporaryDirectory() as data:
        app = create_app(
            {
                "SECRET_KEY": "wheel-smoke",
                "DATA_DIR": data,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data}/partnermatch.sqlite3",
                "LOG_REQUESTS": False,
            },
            instance_path=data,
        )
        if app.config["MULTILINGUAL"] != "auto":
            sys.exit(f"MULTILINGUAL is {app.config['MULTILINGUAL']!r}, not the default 'auto'")
        with app.app_context():
            db.create_all()
            load_demo(app.config["DEMO_PASSWORD"])
            db.session.commit()
            engine = get_engine()
            engine.rebuild()
            # A query in Spanish: auto mode reads it with the multilingual model and maps its
            # scores through calibration.json.
            found = search(engine, "pruebas de corrosión de aluminio en clima tropical", limit=3)
            if not found.results:
                sys.exit("the search found nothing")
            for result in found.results:
                print(f"{result.hit.score:.3f}  {result.profile.name}")
            db.session.remove()
            db.engine.dispose()
    print(f"The wheel works: {len(PACKAGE_DATA)} data files present, a search in auto mode ran.")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
