"""Pages read the database in a fixed number of statements, however many results they show
(no query per result: the N+1 pattern)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.models import Profile


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def statements_for(client, url: str) -> int:
    with counted() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


def test_the_search_page_reads_the_same_few_statements_for_few_or_many_results(demo):
    client = demo.test_client()
    client.get("/search/?q=warm+up")  # the index is loaded once, outside the count

    one = statements_for(client, "/search/?q=IEC+62619+certification")
    ten = statements_for(client, "/search/?q=aluminium+die+casting&weaker=y")

    assert ten <= one + 2 and ten <= 10


def test_a_profile_page_with_its_recommendations_reads_a_fixed_number_of_statements(demo):
    client = demo.test_client()
    profile_id = db.session.scalar(
        select(Profile.id).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    client.get(f"/profiles/{profile_id}")
    get_engine().kept.clear()  # computed afresh: scored, explained and shown

    assert statements_for(client, f"/profiles/{profile_id}") <= 20


def test_the_profile_browser_reads_a_fixed_number_of_statements(demo):
    client = demo.test_client()

    few = statements_for(client, "/profiles/?sector=textiles")
    many = statements_for(client, "/profiles/")

    assert many <= few + 2
