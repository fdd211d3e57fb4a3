"""The programme dashboard, with a CSV download behind every chart."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, current_app, render_template, request

from partnermatch import reference
from partnermatch.auth.decorators import staff_required
from partnermatch.dashboard import services
from partnermatch.review.learning import current_weights

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("/")
@staff_required
def index() -> str:
    level = request.args.get("pairs", "suggested")
    if level not in services.PAIR_LEVELS:
        level = "suggested"
    events = services.events_by_name()
    event_id = _event_filter(events)
    return render_template(
        "dashboard/index.html",
        level=level,
        levels=services.PAIR_LEVELS,
        pairs=services.economy_pairs(level),
        coverage=services.value_chain_coverage(),
        funnel=services.funnel(),
        sectors=services.sector_mix(),
        decisions=services.decision_summary(),
        weights=current_weights(current_app.config),
        events=events,
        event_id=event_id,
        event_meetings=services.event_meetings(event_id),
    )


def _event_filter(events: list) -> int | None:
    """The event the query string asks for; an unknown or malformed id means all events."""
    event_id = request.args.get("event", type=int)
    return event_id if event_id in {event.id for event in events} else None


def _csv(name: str, header: list[str], rows: list[list[object]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="partnermatch-{name}.csv"'},
    )


@bp.get("/<name>.csv")
@staff_required
def download(name: str) -> Response:
    if name in services.PAIR_LEVELS:
        pairs = services.economy_pairs(name)
        return _csv(
            f"pairs-{name}",
            ["sme_economy", "partner_economy", "matches"],
            [
                [reference.economy_name(r), reference.economy_name(c), n]
                for (r, c), n in sorted(pairs.counts.items())
            ],
        )
    if name == "value-chain":
        return _csv(
            name,
            ["position", "smes_needing", "partners_offering", "gap"],
            [[c.label, c.needing, c.offering, c.gap] for c in services.value_chain_coverage()],
        )
    if name == "funnel":
        return _csv(name, ["stage", "matches"], [[s.label, s.count] for s in services.funnel()])
    if name == "sectors":
        return _csv(
            name,
            ["sector", "smes", "experts"],
            [[s.label, s.smes, s.experts] for s in services.sector_mix()],
        )
    if name == "decisions":
        return _csv(
            name,
            ["factor", "value", "decided", "approved", "answered", "accepted"],
            [
                [r.factor, r.value, r.decided, r.approved, r.answered, r.accepted]
                for r in services.decision_summary()
            ],
        )
    if name == "event-meetings":
        meetings = services.event_meetings(_event_filter(services.events_by_name()))
        return _csv(
            name,
            ["economy", "other_economy", "meetings"],
            [
                [reference.economy_name(a), reference.economy_name(b), n]
                for a, b, n in meetings.economy_pairs
            ],
        )
    abort(404)
