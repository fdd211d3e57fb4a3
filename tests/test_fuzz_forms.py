"""The HTML forms, fuzzed: bad input re-renders with an error and writes nothing, good input is
stored exactly as given, and user text always comes back HTML-escaped.

Each request runs in its own application context, as in production: the test code opens a
context only to read or prepare rows between requests.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select

from partnermatch.auth.models import Role, User
from partnermatch.auth.tokens import create_token
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.models import EvidenceItem, Profile
from partnermatch.reference import SECTORS, VALUE_CHAIN
from partnermatch.review import services as review
from partnermatch.review.models import Match, MatchState
from tests.conftest import make_test_app
from tests.drill_helpers import table_rows as snapshot
from tests.factories import PASSWORD, make_profile, make_user

FUZZ = settings(max_examples=40, deadline=None)
_numbers = itertools.count(1)

# --- the site and its rows ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache) -> Iterator[Flask]:
    """One database for the module; every example makes the accounts and profiles it needs."""
    app = make_test_app(
        tmp_path_factory.mktemp("fuzz-forms"),
        EMBEDDING_CACHE=str(shared_embedding_cache),
        LOGIN_RATE_LIMIT="100000 per minute",
        REGISTER_RATE_LIMIT="100000 per minute",
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def member(app: Flask, role: Role = Role.SME, *, profile: str | None = None) -> tuple[str, int]:
    """Create an account (with a profile of the given kind); return its email and profile id."""
    with app.app_context():
        user = make_user(role, email=f"member{next(_numbers)}@example.org")
        profile_id = make_profile(profile, owner=user).id if profile else 0
        return user.email, profile_id


def logged_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, "login failed"
    return client


def first(value: Any) -> Any:
    """The value a form field reads when a key is posted several times."""
    return value[0] if isinstance(value, list) else value


def assert_escaped(body: bytes) -> None:
    """No posted markup ever reaches a page as markup."""
    assert b"<pm-xss" not in body
    assert b"<script>pm-xss" not in body


def assert_rerendered_with_error(response, field: str | None = None) -> None:
    assert response.status_code == 200, response.status_code
    body = response.get_data()
    assert b'class="form-errors"' in body
    if field is not None:
        assert f'id="{field}-errors"'.encode() in body, f"no error shown next to {field}"
    assert_escaped(body)


# --- strategies ---------------------------------------------------------------------------------

PAYLOADS = (
    "<pm-xss>",
    '"><pm-xss onerror=alert(1)>',
    "</textarea><pm-xss>",
    "<script>pm-xss</script>",
    "' onmouseover='alert(1)",
    "{{ 7 * 7 }}",
    "&amp; &lt;",
)
ANY_TEXT = st.one_of(
    st.text(max_size=40),  # any code point but surrogates: NUL, controls, RTL marks, emoji
    st.sampled_from(PAYLOADS),
    st.builds(
        lambda piece, length: piece * length,
        st.sampled_from(["x", "é", "\x00", "字 ", "<pm-xss>"]),
        st.sampled_from([120, 121, 200, 201, 300, 301, 2001, 5001, 20001]),
    ),
)
# A key posted several times is a list; a missing key is left out of the post.
ANY_VALUE = ANY_TEXT | st.lists(ANY_TEXT, min_size=2, max_size=3)
# Numbers as typed, and what passes str.isdigit() but not int(): minus signs, superscripts,
# 5,000 digits, past 2^63.
ODD_NUMBERS = ["--5", "²", "⁵", "9" * 5000, str(2**63), "+-1", "0x10"]
NUMBER_TEXT = st.sampled_from(
    ["", "0", "3", "100", "101", "-1", "3.5", "1e2", "٣", "x", " 7 ", *ODD_NUMBERS]
)
SECTOR_CODES = [term.code for term in SECTORS]
POSITION_CODES = [term.code for term in VALUE_CHAIN]
ECONOMIES = [
    ("Viet Nam", "VN"),
    ("vn", "VN"),
    ("Chinese Taipei", "TW"),
    ("japan", "JP"),
    ("Hong Kong, China", "HK"),
    ("  the philippines ", "PH"),
    ("MX", "MX"),
    ("Germany", "DE"),
]
LANGUAGES = [("en", "en"), ("Thai", "th"), ("zh", "zh"), ("Spanish", "es"), ("ID", "id")]

# Text a person could type: any letters, digits, punctuation and markup, and inner spaces.
TYPED = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters=","
) | st.sampled_from([" ", "<", ">", "&", '"', "'"])


def typed_text(min_size: int = 0, max_size: int = 60) -> st.SearchStrategy[str]:
    """Typed text as the services keep it (outer spaces trimmed), within the size bounds."""
    return st.text(TYPED, min_size=min_size, max_size=max_size).map(str.strip).filter(
        lambda text: len(text) >= min_size
    ) | st.sampled_from(PAYLOADS[:4]).filter(lambda text: min_size <= len(text) <= max_size)


def long_text(limit: int) -> st.SearchStrategy[str]:
    """Multi-line text up to a limit, the limit itself included."""
    lines = st.lists(typed_text(max_size=80), max_size=4).map("\r\n".join).map(str.strip)
    return lines | st.just("é" * limit) | st.sampled_from(PAYLOADS)


EMAILS = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,8})?@example\.(org|com)", fullmatch=True)
NAMES = typed_text(1, 200)
CITIES = typed_text(0, 120)
ORGANISATIONS = typed_text(1, 40)
TITLES = typed_text(1, 300)
DISPLAY_NAMES = typed_text(1, 120)
PROFILE_TEXTS = long_text(5000)
EVIDENCE_TEXTS = long_text(20000)
WEBSITES = st.just("") | st.from_regex(r"https://example\.org/[a-z0-9/_-]{0,30}", fullmatch=True)
LINKS = st.just("") | st.from_regex(r"https://doi\.example/[a-z0-9./]{1,30}", fullmatch=True)
WORDS = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
KEYWORDS = st.lists(
    st.lists(WORDS, min_size=1, max_size=2).map(" ".join), max_size=6, unique_by=str.lower
)


PADDING = st.sampled_from(["", " ", "  ", "\t", "\r\n"])


def padded(draw, value: str, limit: int) -> str:
    """The value as posted: with spaces around it when they fit, which the services trim."""
    pad = draw(PADDING)
    return f"{pad}{value}{pad}" if len(value) + 2 * len(pad) <= limit else value


@st.composite
def valid_profile(draw, expert: bool = False) -> dict[str, Any]:
    """A profile form as a person fills it in, with the values the profile should keep."""
    economy_input, economy = draw(st.sampled_from(ECONOMIES))
    sectors = draw(st.lists(st.sampled_from(SECTOR_CODES), min_size=1, max_size=3, unique=True))
    positions = draw(st.lists(st.sampled_from(POSITION_CODES), min_size=1, unique=True))
    languages = draw(st.lists(st.sampled_from(LANGUAGES), max_size=3, unique=True))
    keywords = draw(KEYWORDS)
    capacity = draw(st.none() | st.integers(0, 100))
    organisation = draw(st.none() | ORGANISATIONS)
    if organisation is not None:
        organisation = f"{organisation} #{next(_numbers)}"  # a new organisation each time
    kinds = ["university", "research_institute", "government", "other"] if expert else []
    expected = {
        "name": draw(NAMES),
        "city": draw(CITIES),
        "summary": draw(PROFILE_TEXTS),
        "offers": draw(PROFILE_TEXTS),
        "needs": draw(PROFILE_TEXTS),
        "website": draw(WEBSITES),
        "contact_email": draw(st.just("") | EMAILS),
        "affiliation": draw(st.sampled_from(["government", "academia", "research", "industry"]))
        if expert
        else "industry",
    }
    limits = {"name": 200, "city": 120, "summary": 5000, "offers": 5000, "needs": 5000}
    post = {
        **{name: value for name, value in expected.items() if name != "affiliation"},
        **{name: padded(draw, expected[name], limit) for name, limit in limits.items()},
        "economy": economy_input,
        "sectors": sectors,
        "value_chain": positions,
        "keywords": ", ".join(keywords),
        "languages": ", ".join(given for given, _code in languages),
        "introduction_capacity": "" if capacity is None else str(capacity),
        "organisation_name": organisation or "",
        "organisation_kind": draw(st.sampled_from(["sme", "company", *kinds])),
    }
    if expert:
        post["affiliation"] = expected["affiliation"]
    expected |= {
        "economy": economy,
        "sectors": [code for code in SECTOR_CODES if code in sectors],
        "value_chain": [code for code in POSITION_CODES if code in positions],
        "keywords": keywords,
        "languages": list(dict.fromkeys(code for _given, code in languages)),
        "introduction_capacity": capacity,
        "organisation": organisation,
    }
    return {"post": post, "expected": expected}


# (field, value): each makes an otherwise valid profile form invalid, and the page says where.
BAD_PROFILE_FIELDS = [
    ("name", ""),
    ("name", "   "),
    ("name", "n" * 201),
    ("economy", "Atlantis"),
    ("economy", ""),
    ("sectors", []),
    ("sectors", ["metal", "unobtainium"]),
    ("value_chain", []),
    ("value_chain", ["teleportation"]),
    ("city", "c" * 121),
    ("summary", "s" * 5001),
    ("offers", "<pm-xss>" * 626),
    ("needs", "\x00" * 5001),
    ("website", "ftp://example.org/file"),
    ("website", "javascript:alert(1)"),
    ("website", "https://example.org/" + "w" * 290),
    ("contact_email", "not-an-email"),
    ("contact_email", "<pm-xss>@example.org"),
    ("introduction_capacity", "101"),
    ("introduction_capacity", "-1"),
    ("introduction_capacity", "many"),
    *(("introduction_capacity", number) for number in ODD_NUMBERS),
    ("keywords", ", ".join(f"kw{number}" for number in range(21))),
    ("keywords", "k" * 61),
    ("languages", "Klingon"),
    ("organisation_kind", "starship"),
    ("organisation_name", "o" * 201),
]


def arbitrary_profile_post(expert: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Anything at all in any profile field, fields missing, unknown codes, repeated keys."""
    codes = st.sampled_from([*SECTOR_CODES, *POSITION_CODES, "METAL", "", "unknown", "<pm-xss>"])
    return st.fixed_dictionaries(
        {},
        optional={
            "name": ANY_VALUE,
            "organisation_name": ANY_VALUE,
            "organisation_kind": ANY_VALUE | st.sampled_from(["sme", "company", "university"]),
            "affiliation": ANY_VALUE | st.sampled_from(["industry", "academia"]),
            "economy": ANY_VALUE | st.sampled_from([given for given, _code in ECONOMIES]),
            "city": ANY_VALUE,
            "sectors": st.lists(codes, max_size=4) | ANY_VALUE,
            "value_chain": st.lists(codes, max_size=4) | ANY_VALUE,
            "summary": ANY_VALUE,
            "offers": ANY_VALUE,
            "needs": ANY_VALUE,
            "keywords": ANY_VALUE,
            "languages": ANY_VALUE | st.sampled_from(["en, th", "xx", "English,,Thai"]),
            "website": ANY_VALUE | st.sampled_from(["https://example.org", "example.org"]),
            "introduction_capacity": NUMBER_TEXT | ANY_VALUE,
            "contact_email": ANY_VALUE | EMAILS,
            "unknown_field": ANY_VALUE,
        },
    )


def stored_profile(app: Flask, profile_id: int) -> dict[str, Any]:
    with app.app_context():
        profile = db.session.get(Profile, profile_id)
        return {
            "name": profile.name,
            "city": profile.city,
            "summary": profile.summary,
            "offers": profile.offers,
            "needs": profile.needs,
            "website": profile.website,
            "contact_email": profile.contact_email,
            "affiliation": profile.affiliation.value,
            "economy": profile.economy,
            "sectors": profile.sectors,
            "value_chain": profile.value_chain,
            "keywords": list(profile.keywords),
            "languages": list(profile.languages),
            "introduction_capacity": profile.introduction_capacity,
            "organisation": profile.organisation.name if profile.organisation else None,
        }


def own_profile_id(app: Flask, email: str) -> int | None:
    with app.app_context():
        return db.session.scalar(
            select(Profile.id).join(User, Profile.owner_id == User.id).where(User.email == email)
        )


def assert_profile_page_escapes(client: FlaskClient, profile_id: int, shown: dict) -> None:
    body = client.get(f"/profiles/{profile_id}").get_data(as_text=True)
    for name in ("name", "city", "summary", "offers", "needs"):
        if shown[name]:
            assert str(escape(shown[name])) in body, f"{name} is not shown escaped"
    assert_escaped(body.encode())


# --- profiles -----------------------------------------------------------------------------------


@FUZZ
@given(post=arbitrary_profile_post())
def test_any_profile_post_is_stored_or_refused_without_a_write(site, post):
    email, _ = member(site)
    client = logged_in(site, email)
    before = snapshot(site)

    response = client.post("/profiles/new", data=post)

    if response.status_code == 302:
        profile_id = own_profile_id(site, email)
        assert stored_profile(site, profile_id)["name"] == first(post["name"]).strip()
    else:
        assert_rerendered_with_error(response)
        assert snapshot(site) == before


@FUZZ
@given(form=valid_profile())
def test_a_valid_new_profile_is_stored_exactly_as_given_and_shown_escaped(site, form):
    email, _ = member(site)
    client = logged_in(site, email)

    response = client.post("/profiles/new", data=form["post"])

    assert response.status_code == 302, response.get_data(as_text=True)
    profile_id = own_profile_id(site, email)
    assert stored_profile(site, profile_id) == form["expected"]
    assert_profile_page_escapes(client, profile_id, form["expected"])


@FUZZ
@given(form=valid_profile(), bad=st.sampled_from(BAD_PROFILE_FIELDS))
def test_one_bad_field_refuses_the_new_profile_and_says_which(site, form, bad):
    field, value = bad
    email, _ = member(site)
    client = logged_in(site, email)
    before = snapshot(site)

    response = client.post("/profiles/new", data={**form["post"], field: value})

    assert_rerendered_with_error(response, field)
    assert snapshot(site) == before


@FUZZ
@given(data=st.data())
def test_editing_stores_a_valid_form_exactly_and_a_bad_one_not_at_all(site, data):
    email, profile_id = member(site, Role.EXPERT, profile="expert")
    client = logged_in(site, email)
    form = data.draw(valid_profile(expert=True))
    bad = data.draw(st.none() | st.sampled_from(BAD_PROFILE_FIELDS))
    before_row, before = stored_profile(site, profile_id), snapshot(site)

    post = form["post"] if bad is None else {**form["post"], bad[0]: bad[1]}
    response = client.post(f"/profiles/{profile_id}/edit", data=post)

    if bad is None:
        assert response.status_code == 302, response.get_data(as_text=True)
        assert stored_profile(site, profile_id) == form["expected"]
        assert_profile_page_escapes(client, profile_id, form["expected"])
    else:
        assert_rerendered_with_error(response, bad[0])
        assert stored_profile(site, profile_id) == before_row
        assert snapshot(site) == before


@FUZZ
@given(post=arbitrary_profile_post(expert=True))
def test_any_edit_post_is_stored_or_refused_without_a_write(site, post):
    email, profile_id = member(site, Role.EXPERT, profile="expert")
    client = logged_in(site, email)
    before = snapshot(site)

    response = client.post(f"/profiles/{profile_id}/edit", data=post)

    if response.status_code == 302:
        assert stored_profile(site, profile_id)["name"] == first(post["name"]).strip()
    else:
        assert_rerendered_with_error(response)
        assert snapshot(site) == before


# --- evidence -----------------------------------------------------------------------------------

EVIDENCE_KINDS = ["publication", "project", "product", "patent", "other"]
BAD_EVIDENCE_FIELDS = [
    ("title", ""),
    ("title", "t" * 301),
    ("text", "x" * 20001),
    ("year", "1899"),
    ("year", "2101"),
    ("year", "last year"),
    ("year", "2020.5"),
    *(("year", number) for number in ODD_NUMBERS),
    ("url", "ftp://example.org/paper.pdf"),
    ("url", "https://example.org/" + "u" * 490),
    ("kind", "thesis"),
]


@st.composite
def valid_evidence(draw) -> dict[str, Any]:
    year = draw(st.none() | st.integers(1900, 2100))
    expected = {
        "kind": draw(st.sampled_from(EVIDENCE_KINDS)),
        "title": draw(TITLES),
        "text": draw(EVIDENCE_TEXTS),
        "year": year,
        "url": draw(LINKS),
    }
    post = {
        **expected,
        "title": padded(draw, expected["title"], 300),
        "text": padded(draw, expected["text"], 20000),
        "year": "" if year is None else str(year),
    }
    return {"post": post, "expected": expected}


def evidence_rows(app: Flask, profile_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        items = db.session.scalars(
            select(EvidenceItem).where(EvidenceItem.profile_id == profile_id)
        )
        return [
            {"kind": i.kind.value, "title": i.title, "text": i.text, "year": i.year, "url": i.url}
            for i in items
        ]


@FUZZ
@given(data=st.data())
def test_evidence_is_stored_exactly_or_refused_with_the_field_named(site, data):
    email, profile_id = member(site, profile="sme")
    client = logged_in(site, email)
    form = data.draw(valid_evidence())
    bad = data.draw(st.none() | st.sampled_from(BAD_EVIDENCE_FIELDS))
    before = snapshot(site)

    post = form["post"] if bad is None else {**form["post"], bad[0]: bad[1]}
    response = client.post(f"/profiles/{profile_id}/evidence/new", data=post)

    if bad is None:
        assert response.status_code == 302
        assert evidence_rows(site, profile_id) == [form["expected"]]
        page = client.get(f"/profiles/{profile_id}").get_data(as_text=True)
        assert str(escape(form["expected"]["title"])) in page
        assert_escaped(page.encode())
    else:
        assert_rerendered_with_error(response, bad[0])
        assert snapshot(site) == before


@FUZZ
@given(
    post=st.fixed_dictionaries(
        {},
        optional={
            "kind": ANY_VALUE | st.sampled_from(EVIDENCE_KINDS),
            "title": ANY_VALUE,
            "text": ANY_VALUE,
            "year": NUMBER_TEXT | ANY_VALUE | st.sampled_from(["1900", "2100", "0", "99999999999"]),
            "url": ANY_VALUE | st.sampled_from(["https://example.org", "//example.org"]),
        },
    )
)
def test_any_evidence_post_is_stored_or_refused_without_a_write(site, post):
    email, profile_id = member(site, profile="sme")
    client = logged_in(site, email)
    before = snapshot(site)

    response = client.post(f"/profiles/{profile_id}/evidence/new", data=post)

    if response.status_code == 302:
        assert [row["title"] for row in evidence_rows(site, profile_id)] == [
            first(post["title"]).strip()
        ]
    else:
        assert_rerendered_with_error(response)
        assert snapshot(site) == before


# --- accounts -----------------------------------------------------------------------------------

PASSWORDS = st.text(TYPED, min_size=10, max_size=200).filter(
    lambda password: password.strip() == password and len(password) >= 10
)


@st.composite
def registration(draw) -> dict[str, Any]:
    """A registration form, its display name padded with spaces the account does not keep."""
    password = draw(PASSWORDS)
    return {
        "role": draw(st.sampled_from(["sme", "expert"])),
        "display_name": padded(draw, draw(DISPLAY_NAMES), 120),
        "email": f"new{next(_numbers)}.{draw(EMAILS)}",
        "password": password,
        "confirm": password,
    }


BAD_REGISTRATIONS = [
    ("role", "admin"),
    ("role", "coordinator"),
    ("role", ""),
    ("display_name", ""),
    ("display_name", "   "),
    ("display_name", "d" * 121),
    ("email", "not-an-email"),
    ("email", "taken@example.org"),
    ("email", "TAKEN@Example.org"),
    ("password", "short-pass"[:9]),
    ("password", " padded password "),
    ("confirm", "a different password"),
]


@FUZZ
@given(form=registration(), bad=st.none() | st.sampled_from(BAD_REGISTRATIONS))
def test_registration_creates_exactly_the_account_asked_for_or_nothing(site, form, bad):
    with site.app_context():
        if db.session.scalar(select(User.id).where(User.email == "taken@example.org")) is None:
            make_user(Role.SME, email="taken@example.org")
    client = site.test_client()
    before = snapshot(site)

    post = form if bad is None else {**form, bad[0]: bad[1]}
    if bad is not None and bad[0] == "password":
        post["confirm"] = bad[1]
    response = client.post("/register", data=post)

    if bad is None:
        assert response.status_code == 302
        with site.app_context():
            user = db.session.scalar(select(User).where(User.email == form["email"]))
            name = form["display_name"].strip()
            assert (user.role.value, user.display_name) == (form["role"], name)
        home = client.get("/").get_data(as_text=True)
        assert str(escape(name)) in home
        assert_escaped(home.encode())
        logged_in(site, form["email"], form["password"])  # the password works as given
    else:
        assert_rerendered_with_error(response, bad[0])
        assert snapshot(site) == before


@FUZZ
@given(
    post=st.fixed_dictionaries(
        {},
        optional={
            "role": ANY_VALUE | st.sampled_from(["sme", "expert", "admin"]),
            "display_name": ANY_VALUE,
            "email": ANY_VALUE | EMAILS,
            "password": ANY_VALUE,
            "confirm": ANY_VALUE,
        },
    )
)
def test_any_registration_post_creates_one_account_or_none(site, post):
    client = site.test_client()
    before = snapshot(site)

    response = client.post("/register", data=post)

    if response.status_code == 302:
        with site.app_context():
            user = db.session.scalar(select(User).order_by(User.id.desc()))
            assert user.display_name == first(post["display_name"]).strip()
            assert user.role.value in ("sme", "expert")
        assert len(snapshot(site)["users"]) == len(before["users"]) + 1
    else:
        assert_rerendered_with_error(response)
        assert snapshot(site) == before


@FUZZ
@given(
    email=ANY_VALUE | st.sampled_from(["login@example.org", "LOGIN@example.org"]),
    password=ANY_VALUE | st.just(PASSWORD),
    remember=st.none() | ANY_TEXT,
)
def test_login_lets_in_only_the_right_credentials_and_writes_nothing(
    site, email, password, remember
):
    with site.app_context():
        if db.session.scalar(select(User.id).where(User.email == "login@example.org")) is None:
            make_user(Role.EXPERT, email="login@example.org")
    before = snapshot(site)
    post = {"email": email, "password": password}
    if remember is not None:
        post["remember"] = remember

    response = site.test_client().post("/login", data=post)

    right = first(email).lower() == "login@example.org" and first(password) == PASSWORD
    if right:
        assert response.status_code == 302
    else:
        assert_rerendered_with_error(response)
    assert snapshot(site) == before


@FUZZ
@given(
    current=st.just(PASSWORD) | ANY_TEXT,
    new=PASSWORDS | ANY_TEXT,
    confirm=st.none() | ANY_TEXT,
)
def test_a_password_changes_only_when_every_rule_holds(site, current, new, confirm):
    email, _ = member(site)
    client = logged_in(site, email)
    confirm = new if confirm is None else confirm
    before = snapshot(site)

    response = client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "confirm": confirm},
    )

    valid = current == PASSWORD and 10 <= len(new) <= 200 and new.strip() == new and confirm == new
    if valid:
        assert response.status_code == 302
        logged_in(site, email, new)
        assert (
            site.test_client()
            .post("/login", data={"email": email, "password": PASSWORD})
            .status_code
            == 200
        )
    else:
        assert_rerendered_with_error(response)
        assert snapshot(site) == before


# --- introductions and review -------------------------------------------------------------------


def partner(app: Flask) -> int:
    with app.app_context():
        return make_profile("expert", name=f"Partner {next(_numbers)}").id


@FUZZ
@given(note=st.none() | ANY_VALUE)
def test_an_introduction_request_keeps_its_note_or_is_refused_without_a_write(site, note):
    email, _ = member(site, profile="sme")
    partner_id = partner(site)
    client = logged_in(site, email)
    before = snapshot(site)

    response = client.post(
        f"/profiles/{partner_id}/introduction", data={} if note is None else {"note": note}
    )

    given_note = first(note) or ""
    # NUL cannot be stored (PostgreSQL refuses it): refused like an over-long note.
    if len(given_note) <= review.MAX_NOTE and "\x00" not in given_note:
        assert response.status_code == 302
        with site.app_context():
            match = db.session.scalar(select(Match).where(Match.partner_profile_id == partner_id))
            assert match.request_note == given_note.strip()
            assert match.state is MatchState.SUGGESTED
        page = client.get(f"/matches/{match.id}").get_data(as_text=True)
        if given_note.strip():
            assert str(escape(given_note.strip())) in page
        assert_escaped(page.encode())
    else:
        assert_rerendered_with_error(response, "note")
        assert snapshot(site) == before


def suggested_match(app: Flask) -> tuple[int, str]:
    """A fresh SME's request to a fresh partner, waiting for review; with the SME's email."""
    with app.app_context():
        sme = make_user(Role.SME)
        make_profile(owner=sme)
        other = make_profile("expert", name=f"Partner {next(_numbers)}")
        match = review.request_introduction(sme, other, "Please introduce us.")
        db.session.commit()
        return match.id, sme.email


@pytest.fixture(scope="module")
def coordinator(site) -> str:
    with site.app_context():
        return make_user(Role.COORDINATOR, email="coordinator@example.org").email


@FUZZ
@given(decision=st.sampled_from(["approve", "reject"]), note=st.none() | ANY_VALUE)
def test_a_review_decision_keeps_its_note_or_changes_nothing(site, coordinator, decision, note):
    match_id, _sme = suggested_match(site)
    client = logged_in(site, coordinator)
    before = snapshot(site)

    response = client.post(
        f"/matches/{match_id}/{decision}", data={} if note is None else {"note": note}
    )

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert_escaped(page.encode())
    given_note = (first(note) or "").strip()
    with site.app_context():
        match = db.session.get(Match, match_id)
        storable = "\x00" not in given_note
        if len(given_note) <= review.MAX_NOTE and storable:
            assert match.state.value == {"approve": "approved", "reject": "rejected"}[decision]
            assert match.events[-1].note == given_note
            if given_note:
                assert str(escape(given_note)) in page
        else:
            assert match.state is MatchState.SUGGESTED
            assert "Keep the note under" in page or "Remove the NUL character" in page
    if len(given_note) > review.MAX_NOTE or not storable:
        assert snapshot(site) == before


@FUZZ
@given(
    decision=ANY_VALUE | st.sampled_from(["accept", "decline"]),
    reason=st.none() | ANY_VALUE | typed_text(0, 100),
    side=st.none() | st.sampled_from(["", "sme", "partner"]) | ANY_TEXT,
)
def test_an_answer_to_an_introduction_is_recorded_only_when_well_formed(
    site, coordinator, decision, reason, side
):
    match_id, sme_email = suggested_match(site)
    with site.app_context():
        staff = db.session.scalar(select(User).where(User.email == coordinator))
        review.approve(db.session.get(Match, match_id), staff, "")
        db.session.commit()
    client = logged_in(site, sme_email)
    before = snapshot(site)
    post = {"decision": decision}
    if reason is not None:
        post["reason"] = reason
    if side is not None:
        post["side"] = side

    response = client.post(f"/matches/{match_id}/respond", data=post)

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert_escaped(page.encode())
    given_reason = first(reason) or ""
    valid = (
        first(decision) in ("accept", "decline")
        and len(given_reason) <= review.MAX_NOTE
        and "\x00" not in given_reason
        and (first(side) or "") in ("", "sme")
    )
    with site.app_context():
        match = db.session.get(Match, match_id)
        if valid:
            assert (
                match.sme_response.value
                == {"accept": "accepted", "decline": "declined"}[first(decision)]
            )
            assert match.events[-1].note == given_reason.strip()
        else:
            assert match.state is MatchState.APPROVED
            assert match.sme_response.value == "pending"
    if not valid:
        assert snapshot(site) == before


# --- a file where a text field is expected ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "file_field"),
    [
        ("/register", {"role": "sme", "email": "f@example.org"}, "display_name"),
        ("/login", {"password": PASSWORD}, "email"),
        ("/profiles/new", {"economy": "VN", "sectors": "metal", "value_chain": "design"}, "name"),
    ],
    ids=["register", "login", "profile"],
)
def test_a_file_posted_in_place_of_a_text_field_is_refused_not_a_server_error(
    site, path, fields, file_field
):
    email, _ = member(site)
    client = logged_in(site, email) if path.startswith("/profiles") else site.test_client()
    before = snapshot(site)

    response = client.post(
        path,
        data={**fields, file_field: (io.BytesIO(b"<pm-xss>"), "payload.txt")},
        content_type="multipart/form-data",
    )

    assert response.status_code in (200, 400)
    assert snapshot(site) == before


# --- query strings, ids and API bodies: never a server error ------------------------------------

LIST_PAGES = [
    "/profiles/",
    "/search/?q=casting&",
    "/review/",
    "/users",
    "/notifications",
    "/outbox",
]
ID_ROUTES = ["/profiles/{}", "/matches/{}", "/jobs/{}", "/profiles/{}/edit", "/api/v1/profiles/{}"]
ANY_NUMBER = NUMBER_TEXT | st.integers(-(2**70), 2**70).map(str) | ANY_TEXT


@pytest.fixture(scope="module")
def indexed_site(tmp_path_factory, shared_embedding_cache) -> Iterator[Flask]:
    """A few profiles with a search index, so that searches answer rather than 503."""
    app = make_test_app(
        tmp_path_factory.mktemp("fuzz-queries"), EMBEDDING_CACHE=str(shared_embedding_cache)
    )
    with app.app_context():
        db.create_all()
        for number in range(3):
            make_profile(name=f"Foundry {number}", offers="Aluminium die casting.")
        get_engine().rebuild()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def staff_client(indexed_site) -> FlaskClient:
    email = f"admin{next(_numbers)}@example.org"
    with indexed_site.app_context():
        _token, secret = create_token(make_user(Role.ADMIN, email=email), "fuzz")
        db.session.commit()
    client = logged_in(indexed_site, email)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


@FUZZ
@given(path=st.sampled_from(LIST_PAGES), page=ANY_NUMBER)
def test_any_page_number_on_a_list_is_refused_or_ignored_never_a_server_error(
    staff_client, path, page
):
    separator = "" if path.endswith("&") else "?"

    response = staff_client.get(f"{path}{separator}{urlencode({'page': page})}")

    assert response.status_code in (200, 404), response.status_code


@FUZZ
@given(route=st.sampled_from(ID_ROUTES), value=ANY_NUMBER.filter(lambda v: "/" not in v))
def test_any_id_in_a_path_is_found_or_not_found_never_a_server_error(staff_client, route, value):
    response = staff_client.get(route.format(quote(value, safe="")))

    assert response.status_code in (200, 404, 405), response.status_code


@FUZZ
@given(
    name=st.sampled_from(["limit", "offset", "page", "per_page"]),
    value=ANY_NUMBER,
    path=st.sampled_from(["/api/v1/search?q=casting&", "/api/v1/profiles?"]),
)
def test_any_number_in_an_api_query_string_is_refused_with_its_field(
    staff_client, name, value, path
):
    response = staff_client.get(f"{path}{urlencode({name: value})}")

    assert response.status_code < 500, response.status_code
    if response.status_code == 422:
        assert response.get_json()["error"]["field"] in (name, "query")


JSON_LEAVES = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | ANY_TEXT
SURROGATES = st.text(st.characters(categories=("Cs",)), min_size=1, max_size=3)
JSON_SHAPES = st.recursive(
    JSON_LEAVES | SURROGATES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "query", "limit", "title", "year", "economy"]) | ANY_TEXT,
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)
DEEP = st.integers(30, 1500).map(lambda depth: "[" * depth + "]" * depth)


@FUZZ
@given(
    body=JSON_SHAPES.map(lambda value: json.dumps(value, allow_nan=True)) | DEEP,
    path=st.sampled_from(["/api/v1/search", "/api/v1/profiles"]),
)
def test_any_json_body_is_answered_with_a_4xx_or_a_success_never_a_server_error(
    staff_client, body, path
):
    response = staff_client.post(path, data=body, content_type="application/json")

    assert response.status_code < 500, (response.status_code, body[:200])
    if response.status_code >= 400:
        assert set(response.get_json()["error"]) == {"code", "message", "field"}
