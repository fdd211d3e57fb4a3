"""An event's marketplace: participants post short offers and needs, the list filters by
words, and each participant's items are matched with the others' of the opposite kind."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.events import marketplace
from partnermatch.events import views as event_views
from partnermatch.events.models import MAX_ITEMS, ItemKind, MarketplaceItem
from partnermatch.events.participation import EventError
from partnermatch.extensions import db
from partnermatch.matching.items import best_counterparts
from partnermatch.timeutil import utcnow
from tests.engine_fakes import HashingEmbedder
from tests.factories import make_user
from tests.test_event_participation import make_event, page_text, registered


@pytest.fixture
def fair(db):
    event = make_event()
    sme_user, sme = registered(event, name="Hanoi Castings")
    lab_user, lab = registered(event, "expert", name="Osaka Materials Lab")
    _user, studio = registered(event, "expert", name="Seoul Design Studio")
    marketplace.post_item(lab, "offer", "Fatigue testing of aluminium castings", lab_user)
    marketplace.post_item(studio, "offer", "Industrial design for consumer electronics", _user)
    marketplace.post_item(studio, "seek", "A die casting supplier in Viet Nam", _user)
    db.session.commit()
    return {"event": event, "sme_user": sme_user, "sme": sme, "lab": lab, "studio": studio}


@pytest.fixture
def hashing_engine(monkeypatch):
    """The marketplace page matches with a bag-of-words embedder instead of the model."""
    monkeypatch.setattr(
        event_views, "get_engine", lambda: SimpleNamespace(embedder=HashingEmbedder())
    )


def test_closest_counterparts_come_best_first_above_the_floor():
    found = best_counterparts(
        HashingEmbedder(),
        ["testing of castings"],
        ["industrial design", "fatigue testing of castings", "castings"],
        limit=2,
        floor=0.1,
    )

    assert [index for index, _score in found[0]] == [1, 2]
    assert best_counterparts(HashingEmbedder(), ["anything"], []) == [[]]


def test_a_participant_posts_an_item_and_sees_it_listed(fair, login_as):
    client = login_as(fair["sme_user"])
    url = f"/events/{fair['event'].id}/marketplace"

    response = client.post(url, data={"kind": "seek", "text": "Fatigue testing of a housing"})
    listing = page_text(client.get(url))

    assert response.status_code == 302
    item = db.session.scalars(
        select(MarketplaceItem).where(MarketplaceItem.participant_id == fair["sme"].id)
    ).one()
    assert (item.kind, item.text) == (ItemKind.SEEK, "Fatigue testing of a housing")
    assert "Fatigue testing of a housing" in listing and "Hanoi Castings" in listing


def test_the_list_filters_by_words_and_kind(fair, login_as):
    client = login_as(make_user(Role.EXPERT))
    url = f"/events/{fair['event'].id}/marketplace"

    casting = page_text(client.get(f"{url}?q=casting"))
    casting_offers = page_text(client.get(f"{url}?q=casting&kind=offer"))
    by_name = page_text(client.get(f"{url}?q=seoul"))
    nothing = page_text(client.get(f"{url}?q=biotech"))

    assert "Fatigue testing" in casting and "die casting supplier" in casting
    assert "Fatigue testing" in casting_offers and "die casting supplier" not in casting_offers
    assert "Industrial design" in by_name and "Fatigue testing" not in by_name
    assert "No item matches these filters." in nothing


def test_items_are_short_few_and_only_for_participants(fair, login_as):
    lab, lab_owner = fair["lab"], fair["lab"].profile.owner

    with pytest.raises(EventError, match="under"):
        marketplace.post_item(lab, "offer", "x" * 201, lab_owner)
    with pytest.raises(EventError, match="Write what"):
        marketplace.post_item(lab, "offer", "   ", lab_owner)
    with pytest.raises(EventError, match="Only the participant"):
        marketplace.post_item(lab, "offer", "Testing.", fair["sme_user"])
    for number in range(MAX_ITEMS - 1):
        marketplace.post_item(lab, "offer", f"Service {number}", lab_owner)
    with pytest.raises(EventError, match="the most there may be"):
        marketplace.post_item(lab, "offer", "One too many", lab_owner)
    outsider = login_as(make_user(Role.SME))
    response = outsider.post(
        f"/events/{fair['event'].id}/marketplace", data={"kind": "offer", "text": "Hello"}
    )
    assert response.status_code == 302
    assert "Hello" not in [item.text for item in db.session.scalars(select(MarketplaceItem))]


def test_the_marketplace_closes_when_the_event_is_over(fair):
    after = utcnow() + timedelta(days=400)

    with pytest.raises(EventError, match="over"):
        marketplace.post_item(fair["sme"], "offer", "Casting.", fair["sme_user"], now=after)


def test_what_a_participant_seeks_is_matched_with_what_others_offer(fair):
    marketplace.post_item(fair["sme"], "seek", "Fatigue testing of castings", fair["sme_user"])
    marketplace.post_item(fair["sme"], "offer", "Die casting in Viet Nam", fair["sme_user"])

    found = {
        item.text: [match.item.text for match in matches]
        for item, matches in marketplace.counterparts(fair["sme"], HashingEmbedder())
    }

    assert found["Fatigue testing of castings"] == ["Fatigue testing of aluminium castings"]
    assert found["Die casting in Viet Nam"] == ["A die casting supplier in Viet Nam"]


def test_the_page_shows_a_participants_closest_items(fair, login_as, hashing_engine):
    client = login_as(fair["sme_user"])
    url = f"/events/{fair['event'].id}/marketplace"
    client.post(url, data={"kind": "offer", "text": "Die casting in Viet Nam"})

    page = page_text(client.get(url))

    section = page[page.index("Closest items for yours") :]
    assert "A die casting supplier in Viet Nam" in section and "Seoul Design Studio" in section


def lab_item(fair) -> MarketplaceItem:
    return db.session.scalars(
        select(MarketplaceItem).where(MarketplaceItem.participant_id == fair["lab"].id)
    ).one()


def test_an_item_is_removed_by_its_owner_after_a_confirmation_page(fair, login_as):
    item = lab_item(fair)
    url = f"/events/{fair['event'].id}/marketplace/{item.id}/remove"
    owner = login_as(fair["lab"].profile.owner)

    confirm = owner.get(url)
    removed = owner.post(url)

    assert "Remove this item from the marketplace?" in page_text(confirm)
    assert removed.status_code == 302
    assert db.session.get(MarketplaceItem, item.id) is None


def test_another_participant_cannot_remove_an_item(fair, login_as):
    item = lab_item(fair)

    refused = login_as(fair["sme_user"]).post(
        f"/events/{fair['event'].id}/marketplace/{item.id}/remove"
    )

    assert refused.status_code == 403
    assert db.session.get(MarketplaceItem, item.id) is not None
