"""The interface in several languages: Flask-Babel, the locale of each request, and filters.

The locale is the logged-in user's saved choice, else the session's (visitors), else the best
match of the browser's Accept-Language among the supported locales, else English. Data stays
as it was written (profile text, API field names); what the interface itself says is
translated from the catalogues in partnermatch/translations/.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from flask import Flask, Response, current_app, has_request_context, request, session
from flask_babel import (
    Babel,
    format_decimal,
    format_number,
    format_percent,
    get_locale,
    gettext,
    refresh,
)
from flask_babel import format_date as babel_date
from flask_babel import format_datetime as babel_datetime
from flask_login import current_user

from partnermatch import reference
from partnermatch.extensions import login_manager
from partnermatch.reference import N_


def N_plural(singular: str, plural: str) -> str:
    """Mark a singular and plural pair for the catalogue without translating it."""
    return singular


DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)")


def one_full_stop(text: str) -> str:
    """End a sentence once when a name in it ends in its own full stop ("Sul Ltda.").

    An ellipsis stays as it is."""
    return DOUBLE_STOP.sub(".", str(text))


TRANSLATIONS_DIRECTORY = Path(__file__).resolve().parent / "translations"
SESSION_KEY = "locale"

babel = Babel()


# Strings that extraction cannot find where they are defined, translated where they are shown
# (the `translate` filter, WTForms): the values of enums shown as they are, and the messages of
# WTForms, which partnermatch.forms.Form looks up in our catalogue. Everything else is marked
# with N_ where it is written.
MARKED_ELSEWHERE = (
    # partnermatch/jobs/models.py JobState and partnermatch/review/models.py Response values
    N_("queued"),
    N_("running"),
    N_("succeeded"),
    N_("failed"),
    N_("pending"),
    N_("accepted"),
    N_("declined"),
    # WTForms' built-in messages, which partnermatch.forms.Form looks up in our catalogue
    N_("This field is required."),
    N_("Invalid email address."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Not a valid choice."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Invalid Choice: could not coerce."),
    N_("Invalid choice(s): one or more data inputs could not be coerced."),
    N_plural(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
    ),
    N_plural(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
    ),
    N_plural(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
    ),
)


def supported_locales(app: Flask | None = None) -> dict[str, str]:
    """Return the supported locales, each with its name in its own language."""
    return (app or current_app).config["LANGUAGES"]


def _match_supported(tag: str, supported: dict[str, str]) -> str | None:
    """Return the supported locale an Accept-Language tag asks for, or None."""
    try:
        wanted = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if wanted.language == "zh":
        # Only Traditional Chinese is offered: zh-Hant, or the economies that write it.
        traditional = wanted.script == "Hant" or wanted.territory in ("TW", "HK", "MO")
        return "zh_Hant" if traditional and "zh_Hant" in supported else None
    return wanted.language if wanted.language in supported else None


def best_accepted_locale(header_values: list[str], supported: dict[str, str]) -> str | None:
    """Return the first supported locale among tags in the browser's order of preference."""
    for tag in header_values:
        found = _match_supported(tag, supported)
        if found:
            return found
    return None


def select_locale() -> str | None:
    """Pick the locale of this request: user, session, Accept-Language, then the default."""
    if not has_request_context() or request.blueprint == "api":
        return None  # the CLI, jobs and the JSON API speak the default language
    supported = supported_locales()
    if current_user.is_authenticated and getattr(current_user, "locale", None) in supported:
        return current_user.locale
    chosen = session.get(SESSION_KEY)
    if chosen in supported:
        return chosen
    return best_accepted_locale(list(request.accept_languages.values()), supported)


def current_locale() -> str:
    """Return the locale code in use (the default outside a request)."""
    locale = get_locale()
    return str(locale) if locale else "en"


def html_lang(locale: str | None = None) -> str:
    """Return the BCP 47 tag of a locale for <html lang>: zh_Hant becomes zh-Hant."""
    return (locale or current_locale()).replace("_", "-")


def translate(message: str | None) -> str:
    """Translate a vocabulary string kept in English elsewhere (labels, states, roles)."""
    return gettext(message) if message else ""


def economy_name(code: str) -> str:
    """Return an economy's name in the current language: APEC's own names from our catalogue,
    the others from pycountry's ISO 3166 translations."""
    found = reference.economy(code)
    if found is None:
        return code
    locale = current_locale()
    if locale == "en":
        return found.name
    if found.apec:
        return gettext(found.name)
    return reference.iso_economy_name(code, locale) or found.name


def economy_choices() -> tuple[tuple[str, str], ...]:
    """Return (code, name) of every economy in the current language, APEC members first: made
    once per language and process (a select of some 250 economies, rendered through WTForms'
    widgets on every search page, was most of that page's rendering time)."""
    return _economy_choices(current_locale())


@cache
def _economy_choices(locale: str) -> tuple[tuple[str, str], ...]:
    from flask_babel import force_locale

    with force_locale(locale):
        return tuple(
            (economy.code, economy_name(economy.code)) for economy in reference.economies()
        )


def economy_code(name: str) -> str | None:
    """Return the code of an economy named in the current language ('越南' is VN), or None."""
    wanted = " ".join(name.split()).casefold()
    if not wanted:
        return None
    for economy in reference.economies():
        if economy_name(economy.code).casefold() == wanted:
            return economy.code
    return None


def sector_label(code: str) -> str:
    term = reference.sector(code)
    return translate(term.label) if term else code


def value_chain_label(code: str) -> str:
    term = reference.value_chain_position(code)
    return translate(term.label) if term else code


def value_chain_note(code: str) -> str:
    """Explain a word of a position's label that readers may not know ("" if none)."""
    term = reference.value_chain_position(code)
    return translate(term.note) if term and term.note else ""


def value_chain_notes() -> list[str]:
    """Every explanation of the value-chain labels, for a list that shows them all."""
    return [translate(term.note) for term in reference.VALUE_CHAIN if term.note]


def enum_label(value: Any, enum_cls: type) -> str:
    """Return the translated label of a vocabulary enum value."""
    return translate(reference.label(enum_cls, value))


@cache
def _datetime_pattern(locale: str) -> str:
    """The locale's medium date with its short time, in the order the locale writes them."""
    parsed = Locale.parse(locale)
    combined = str(parsed.datetime_formats["medium"])
    return combined.replace("{1}", str(parsed.date_formats["medium"])).replace(
        "{0}", str(parsed.time_formats["short"])
    )


def format_date(value: date | datetime | None) -> str:
    """Format a date (or the date of a timestamp) in the current locale: 'Nov 26, 2026'."""
    if value is None:
        return ""
    return babel_date(value, "medium")


def format_datetime(value: datetime | None) -> str:
    """Format a timestamp in the current locale, to the minute: 'Nov 26, 2026, 4:02 AM'."""
    if value is None:
        return ""
    return babel_datetime(value, _datetime_pattern(current_locale()))


def format_score(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """Format a score with a fixed number of decimals in the current locale (0.53, 0,53)."""
    if value is None:
        return ""
    pattern = ("+" if sign else "") + "0." + "0" * digits
    if sign:
        pattern += ";-0." + "0" * digits
    return format_decimal(value, pattern)


def factor_detail(factor: Any) -> str:
    """Return a recommendation factor's detail in the current language: a Factor, or one as
    stored on a match (older matches stored only the English text)."""
    from partnermatch import presentation

    return presentation.factor_detail(factor, presentation.reader_words())


def language_switcher_options() -> list[tuple[str, str, bool]]:
    """Return (code, own name, chosen) for each supported locale."""
    chosen = current_locale()
    return [(code, name, code == chosen) for code, name in supported_locales().items()]


def language_name(code: str) -> str:
    """Return a language's name in the current interface language ("vi" -> "Vietnamese",
    "zh_Hant" -> "Chinese (Traditional)"); the code itself when Babel does not know it."""
    try:
        return Locale.parse(code).get_display_name(current_locale()) or code
    except (ValueError, UnknownLocaleError):
        return code


def init_app(app: Flask) -> None:
    """Set up Flask-Babel, the locale selector, the language filters and the template globals."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIRECTORY))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config.get("DEFAULT_LOCALE", "en"))
    babel.init_app(app, locale_selector=select_locale)
    login_manager.localize_callback = gettext

    @app.before_request
    def _forget_previous_locale() -> None:
        # Flask-Babel keeps the locale on `g`, which outlives a request when an app context
        # was pushed around it (tests, jobs): each request chooses again.
        refresh()

    @app.after_request
    def _vary_by_language(response: Response) -> Response:
        # A page's language may come from the browser's Accept-Language: caches must know.
        if response.mimetype == "text/html":
            response.vary.add("Accept-Language")
        return response

    @app.context_processor
    def _inject_language() -> dict[str, Any]:
        return {
            "html_lang": html_lang(),
            "current_locale": current_locale(),
            "economy_choices": economy_choices,
            "language_options": language_switcher_options,
        }

    from partnermatch import presentation

    def words() -> presentation.Words:
        return presentation.reader_words()

    def reader_profile_id() -> int | None:
        profile = current_user.profile if current_user.is_authenticated else None
        return profile.id if profile is not None else None

    app.jinja_env.globals.update(
        value_chain_notes=value_chain_notes,
        search_reasons=lambda result: presentation.search_reasons(result, words()),
        recommendation_reasons=lambda rec: presentation.recommendation_reasons(
            rec, words(), reader_profile_id()
        ),
        factor_label=lambda factor, rec: presentation.factor_label(
            factor.feature,
            presentation.perspective_of(rec, reader_profile_id()),
            words(),
            has_needs=rec.has_needs,
        ),
        quote_title=lambda quote, rec: presentation.quote_title(
            quote, presentation.perspective_of(rec, reader_profile_id()), words()
        ),
        stored_factor_label=lambda factor, match: presentation.stored_factor_label(
            factor,
            presentation.Perspective(match.sme.name, match.partner.name, False),
            words(),
        ),
    )
    app.jinja_env.filters.update(
        strength_label=lambda band: presentation.strength_label(band, words()),
        role_label=lambda role: presentation.role_label(role, words()),
        role_explanation=lambda role: presentation.role_explanation(role, words()),
        evidence_title=lambda evidence: presentation.evidence_title(evidence, words()),
        translate=translate,
        economy_name=economy_name,
        language_name=language_name,
        factor_detail=factor_detail,
        sector_label=sector_label,
        value_chain_label=value_chain_label,
        value_chain_note=value_chain_note,
        one_full_stop=one_full_stop,
        enum_label=enum_label,
        date=format_date,
        datetime=format_datetime,
        number=format_number,
        percent=format_percent,
        score=format_score,
    )
