"""The interface in five languages: complete catalogues, marked templates, the switcher."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale
from jinja2 import Environment, nodes
from jinja2.ext import i18n as jinja_i18n

from partnermatch.auth.models import User
from partnermatch.config import default_settings
from partnermatch.extensions import db as database
from partnermatch.i18n import TRANSLATIONS_DIRECTORY, best_accepted_locale, format_date
from partnermatch.notifications.models import OutboxMessage
from partnermatch.notifications.services import notify
from tests.factories import PASSWORD, make_profile, make_user

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
LANGUAGES = default_settings("instance")["LANGUAGES"]
TRANSLATED = sorted(set(LANGUAGES) - {"en"})


# --- catalogues ----------------------------------------------------------------------------


def _catalogue(locale: str):
    with (TRANSLATIONS_DIRECTORY / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@cache
def _marked_messages() -> frozenset[str]:
    """Extract every marked string of the code and the templates, as `make translations` does."""
    method_map = [("partnermatch/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "_l": None,
        "N_": None,
        "N_plural": (1, 2),
    }
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return frozenset(found)


def test_every_language_of_the_switcher_has_a_catalogue():
    catalogues = {path.parent.parent.name for path in TRANSLATIONS_DIRECTORY.glob("*/*/*.po")}
    assert catalogues == set(TRANSLATED)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_catalogue_translates_every_marked_string_and_compiles(locale):
    catalogue = _catalogue(locale)
    messages = [message for message in catalogue if message.id]
    missing = sorted(
        _marked_messages() - {str(m.id[0] if m.pluralizable else m.id) for m in messages}
    )
    assert not missing, f"{locale}: marked but not in the catalogue (run make translations)"
    untranslated = [m.id for m in messages if not all(m.string if m.pluralizable else [m.string])]
    assert not untranslated, f"{locale}: untranslated entries"
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not fuzzy, f"{locale}: fuzzy entries"
    # Placeholders such as %(name)s must survive translation, or formatting fails at run time.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert not problems
    write_mo(BytesIO(), catalogue)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_compiled_catalogue_is_the_current_one(locale):
    compiled = TRANSLATIONS_DIRECTORY / locale / "LC_MESSAGES" / "messages.mo"
    assert compiled.exists(), "run `make translations` (pybabel compile) to build the .mo files"
    translations = Translations.load(str(TRANSLATIONS_DIRECTORY), [locale])
    for message in _catalogue(locale):
        if message.id and not message.pluralizable:
            assert translations.gettext(message.id) == message.string, (locale, message.id)


# --- templates: no text left unmarked ------------------------------------------------------

# Text that is the same in every language: the product's name, and the URL scheme that a
# website field's placeholder shows.
ALLOWED_WORDS = {"PartnerMatch", "https://"}
USER_FACING_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}
# Commands, headers and JSON shown as code are typed as they are, in any language.
CODE_ELEMENTS = {"code", "pre", "script", "style"}
_TRANS_BLOCK = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", re.DOTALL)
_JINJA = re.compile(r"{#.*?#}|{%.*?%}|{{.*?}}", re.DOTALL)
_LETTER = re.compile(r"[^\W\d_]")


def _has_words(text: str) -> bool:
    remaining = text
    for word in ALLOWED_WORDS:
        remaining = remaining.replace(word, "")
    return bool(_LETTER.search(remaining))


class _TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_code = 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in CODE_ELEMENTS:
            self.in_code += 1
        for name, value in attrs:
            if name in USER_FACING_ATTRIBUTES and value and _has_words(value):
                self.found.append(f'{tag} {name}="{value}"')

    def handle_endtag(self, tag):
        if tag in CODE_ELEMENTS and self.in_code:
            self.in_code -= 1

    def handle_data(self, data):
        if not self.in_code and _has_words(data):
            self.found.append(data.strip())


_ENVIRONMENT = Environment(extensions=[jinja_i18n])


def _printed_literals(expression: str) -> str:
    """Return the string literals an expression prints as they are: {{ 'Yes' if x else 'No' }}.

    They take the expression's place, so that the HTML pass judges them where they stand (a
    class name is not user-facing; a table cell is)."""
    literals = []
    for output in _ENVIRONMENT.parse(expression).find_all(nodes.Output):
        for child in output.nodes:
            candidates = (
                [child.expr1, child.expr2] if isinstance(child, nodes.CondExpr) else [child]
            )
            literals += [
                c.value
                for c in candidates
                if isinstance(c, nodes.Const) and isinstance(c.value, str) and _has_words(c.value)
            ]
    return " ".join(literals) or "\x00"


def _attribute_arguments(source: str) -> list[str]:
    """Return literal values given to user-facing attributes of fields and macros."""
    return [
        f"{keyword.key}={keyword.value.value}"
        for call in _ENVIRONMENT.parse(source).find_all(nodes.Call)
        for keyword in call.kwargs
        if keyword.key in USER_FACING_ATTRIBUTES
        and isinstance(keyword.value, nodes.Const)
        and _has_words(str(keyword.value.value))
    ]


def _strip_jinja(match: re.Match) -> str:
    text = match.group()
    return _printed_literals(text) if text.startswith("{{") else "\x00"


def unmarked_text(source: str) -> list[str]:
    """Return the user-facing text of a template that is not marked for translation."""
    finder = _TextFinder()
    finder.feed(_JINJA.sub(_strip_jinja, _TRANS_BLOCK.sub("\x00", source)))
    finder.close()
    return finder.found + _attribute_arguments(source)


def test_the_check_finds_unmarked_text_and_accepts_marked_text():
    assert unmarked_text("<p>Hello</p>") == ["Hello"]
    assert unmarked_text('<input placeholder="e.g. casting">') == [
        'input placeholder="e.g. casting"'
    ]
    assert unmarked_text("<td>{{ 'Active' if on else 'Inactive' }}</td>") == ["Active Inactive"]
    assert unmarked_text("<td class=\"{{ 'light' if on else '' }}\">5</td>") == []
    assert unmarked_text('{{ form.q(placeholder="e.g. casting") }}') == ["placeholder=e.g. casting"]
    assert unmarked_text('<p>{{ _("Hello") }} · {{ count }}</p>') == []
    assert unmarked_text("<p>{% trans %}Hello <a>there</a>{% endtrans %}</p>") == []
    assert unmarked_text("<p><code>flask --app wsgi</code> PartnerMatch</p>") == []


@pytest.mark.parametrize(
    "template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_template_has_no_unmarked_text(template):
    assert unmarked_text((TEMPLATES / template).read_text()) == []


# --- choosing the language -----------------------------------------------------------------


def _html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_pages_are_english_by_default(client):
    response = client.get("/")
    assert _html_lang(response) == "en"
    assert ">Browse profiles</a>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-TW,zh;q=0.9,en;q=0.5", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"),
        ("fr-FR,es;q=0.8,en;q=0.5", "es"),
        ("vi-VN", "vi"),
        ("id", "id"),
        ("zh-CN,fr", "en"),  # Simplified Chinese is not offered; nor is French
    ],
)
def test_accept_language_picks_the_best_supported_locale(client, header, expected):
    assert _html_lang(client.get("/", headers={"Accept-Language": header})) == expected


def test_pages_tell_caches_that_they_vary_by_language(client):
    assert "Accept-Language" in client.get("/").headers["Vary"]


def test_accept_language_order_is_kept():
    assert best_accepted_locale(["fr", "vi", "es"], LANGUAGES) == "vi"
    assert best_accepted_locale(["zh-SG", "de"], LANGUAGES) is None


def test_a_visitor_switches_language_and_it_is_remembered_in_the_session(client):
    response = client.post("/language", data={"language": "es", "next": "/profiles/?kind=sme"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/profiles/?kind=sme"
    page = client.get("/profiles/")
    html = page.get_data(as_text=True)
    assert _html_lang(page) == "es"
    assert "Explorar perfiles" in html
    assert '<option value="es" lang="es" selected>Español</option>' in html
    assert '<option value="zh_Hant" lang="zh-Hant">繁體中文</option>' in html


def test_the_switcher_ignores_unknown_languages_and_foreign_redirects(client):
    response = client.post("/language", data={"language": "xx", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
    assert _html_lang(client.get("/")) == "en"


def test_a_logged_in_users_choice_is_saved_and_kept_across_logins(app, client, login_as):
    user = make_user()
    login_as(user)
    client.post("/language", data={"language": "vi", "next": "/"})
    assert database.session.get(User, user.id).locale == "vi"
    client.post("/logout")

    other_browser = app.test_client()
    response = other_browser.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    page = other_browser.get("/", headers={"Accept-Language": "es"})
    assert _html_lang(page) == "vi"
    assert "Duyệt hồ sơ" in page.get_data(as_text=True)


def test_the_language_form_is_protected_against_cross_site_requests(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    assert client.post("/language", data={"language": "es"}).status_code == 400
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/language", data={"language": "es", "csrf_token": token})
    assert response.status_code == 302


# --- what the chosen language changes --------------------------------------------------------


def test_a_page_in_traditional_chinese_shows_chinese_navigation_and_economy_names(client, db):
    make_profile(name="Kaohsiung Die Casting", economy="TW")
    make_profile(name="Hanoi Motors", economy="VN")
    make_profile(name="Lyon Fonderie", economy="FR")
    client.post("/language", data={"language": "zh_Hant"})
    page = client.get("/profiles/")
    html = page.get_data(as_text=True)
    assert _html_lang(page) == "zh-Hant"
    assert "瀏覽檔案" in html  # Browse profiles
    assert "搜尋" in html  # Search
    assert "中華台北" in html  # APEC's name for TW, from our catalogue
    assert "越南" in html  # Viet Nam
    assert "法國" in html  # France, from pycountry's ISO 3166 catalogue
    assert "Chinese Taipei" not in html


def test_apec_names_stay_apecs_in_every_language(app):
    from partnermatch.i18n import economy_name

    expected = {
        "es": "Hong Kong, China",
        "vi": "Hồng Kông, Trung Quốc",
        "id": "Hong Kong, Tiongkok",
    }
    with app.test_request_context():
        for locale, name in expected.items():
            with force_locale(locale):
                assert economy_name("HK") == name
                assert "Taiwan" not in economy_name("TW")


def test_dates_and_numbers_follow_the_locale(app):
    moment = datetime(2026, 11, 26, 4, 2, tzinfo=UTC)
    with app.test_request_context():
        expected = {
            "en": "Nov 26, 2026",
            "es": "26 nov 2026",
            "zh_Hant": "2026年11月26日",
            "vi": "26 thg 11, 2026",
            "id": "26 Nov 2026",
        }
        for locale, text in expected.items():
            with force_locale(locale):
                assert format_date(moment) == text, locale
        template = app.jinja_env.from_string("{{ count | number }} {{ similarity | score }}")
        with force_locale("es"):
            assert template.render(count=1234567, similarity=0.5) == "1.234.567 0,50"
        with force_locale("en"):
            assert template.render(count=1234567, similarity=0.5) == "1,234,567 0.50"


def test_a_page_shows_dates_in_the_chosen_language(client, db, login_as):
    login_as(make_user())
    client.post("/account/tokens", data={"name": "CRM sync"})
    client.post("/language", data={"language": "es"})
    html = client.get("/account/tokens").get_data(as_text=True)
    today = datetime.now(UTC)
    with client.application.test_request_context(), force_locale("es"):
        assert f"<td>{format_date(today)}</td>" in html
    assert "Crear un token" in html


def test_form_labels_and_validation_messages_are_translated(client, db):
    client.post("/language", data={"language": "id"})
    html = client.post("/register", data={}).get_data(as_text=True)
    assert "Kata sandi" in html  # Password
    assert "Kolom ini wajib diisi." in html  # WTForms' "This field is required."


def test_wtforms_messages_come_in_traditional_characters(client, db):
    client.post("/language", data={"language": "zh_Hant"})
    html = client.post("/register", data={"role": "pirate"}).get_data(as_text=True)
    assert "不是有效的選項。" in html  # WTForms' own zh catalogue would say 不是有效的选择。
    assert "选" not in html


def test_error_pages_speak_the_chosen_language(client, db):
    client.post("/language", data={"language": "es"})
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert '<h1 id="error-title">Página no encontrada</h1>' in response.get_data(as_text=True)


def test_the_login_prompt_speaks_the_chosen_language(client, db):
    client.post("/language", data={"language": "vi"})
    page = client.get("/account/tokens", follow_redirects=True).get_data(as_text=True)
    assert "Vui lòng đăng nhập để xem trang đó." in page


PROPOSAL = (
    "A coordinator proposes an introduction between %(sme)s and %(partner)s. "
    "Please accept or decline it."
)


def test_emails_are_written_in_each_persons_language(app, db):
    spanish = make_user(display_name="Ana", locale="es")
    english = make_user(display_name="Bob")
    with app.test_request_context():
        notify(
            [spanish, english], PROPOSAL, {"sme": "Pin Xanh", "partner": "Dr. Sato"}, link="/m/1"
        )
    sent = {m.to_email: m for m in database.session.scalars(database.select(OutboxMessage))}
    assert sent[spanish.email].body.startswith("Hola, Ana:")
    assert "Un coordinador propone una presentación entre Pin Xanh y Dr. Sato." in (
        sent[spanish.email].body
    )
    assert "Ver http://127.0.0.1:5000/m/1" in sent[spanish.email].body  # BASE_URL + link
    assert sent[spanish.email].subject.startswith("PartnerMatch: Un coordinador propone")
    assert sent[english.email].body.startswith(
        "Hello Bob,\n\nA coordinator proposes an introduction between Pin Xanh and Dr. Sato."
    )


def test_notifications_show_in_the_readers_language_and_outcomes_too(client, app, login_as):
    reader = make_user(display_name="Lan", locale="vi")
    with app.test_request_context():
        notify(
            [reader],
            "%(sme)s and %(partner)s: %(outcome_label)s.",
            {"sme": "Pin Xanh", "partner": "Dr. Sato", "outcome_label": "Partnership formed"},
        )
    database.session.commit()

    page = login_as(reader).get("/notifications").get_data(as_text=True)

    assert "Pin Xanh và Dr. Sato: Đã hình thành quan hệ đối tác." in page


def test_the_api_speaks_english_whatever_the_browser_asks(app):
    from partnermatch.i18n import select_locale

    with app.test_request_context("/api/v1/profiles", headers={"Accept-Language": "es"}):
        assert select_locale() is None
    with app.test_request_context("/profiles/", headers={"Accept-Language": "es"}):
        assert select_locale() == "es"


def test_an_economy_may_be_typed_as_the_page_names_it(client, db, login_as):
    user = make_user()
    login_as(user)
    client.post("/language", data={"language": "zh_Hant"})
    form = {
        "name": "Saigon Precision Parts",
        "organisation_kind": "sme",
        "economy": "越南",
        "sectors": ["metal"],
        "value_chain": ["components"],
    }
    response = client.post("/profiles/new", data=form)
    assert response.status_code == 302
    profile = database.session.get(User, user.id).profile
    assert profile.economy == "VN"
    edit_page = f"/profiles/{profile.id}/edit"
    assert 'value="越南"' in client.get(edit_page).get_data(as_text=True)

    form["economy"] = "亞特蘭提斯"
    html = client.post(edit_page, data=form).get_data(as_text=True)
    assert "未知的經濟體「亞特蘭提斯」" in html
