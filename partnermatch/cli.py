"""Command-line tools: ``flask --app wsgi users|demo|index|matches ...``."""

from __future__ import annotations

import json
import smtplib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from partnermatch import presentation, reference
from partnermatch.auth import services as accounts
from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.demo import DEMO_ACCOUNTS, is_database_empty, load_demo
from partnermatch.errors import ValidationError
from partnermatch.events import scheduling
from partnermatch.events.models import Event
from partnermatch.extensions import db
from partnermatch.inputs import clean_text, parse_id
from partnermatch.jobs import scaleout
from partnermatch.jobs.runner import job_queue
from partnermatch.matching.engine import IndexStatus, IndexUnavailable, MatchingEngine
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import recommend
from partnermatch.matching.search import search
from partnermatch.matching.snapshots import Manifest
from partnermatch.notifications.models import OutboxMessage
from partnermatch.notifications.services import send_outbox
from partnermatch.profiles import services as profiles
from partnermatch.profiles import transfer
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters
from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
from partnermatch.review.learning import current_weights
from partnermatch.saved_searches.services import send_digests


class CommandGroup(AppGroup):
    """A group whose commands explain a database without PartnerMatch's tables (a fresh
    install before `db upgrade`) in one line, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as error:
            if not _is_missing_table(error):
                raise
            raise click.ClickException(
                "The database has no PartnerMatch tables yet: "
                "run `flask --app wsgi db upgrade` first."
            ) from error


class IdParam(click.ParamType):
    """A database id on the command line, read by the application's id parser (1 to 2^63 - 1):
    click's int would pass a larger one on to the database, which fails on it."""

    name = "id"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return parse_id(value, "id")
        except ValidationError as error:
            self.fail(error.message, param, ctx)


ID = IdParam()


@contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield a function that counts work done: a bar on a terminal, and where no bar can be
    drawn (`make run`'s output in a log, CI), a line at the start, every tenth and the end."""
    if sys.stdout is not None and sys.stdout.isatty():
        with click.progressbar(length=length, label=label) as bar:
            yield bar.update
        return
    done = 0
    shown = 0  # tenths reported so far
    click.echo(f"{label}: 0 of {length:,}")

    def update(count: int) -> None:
        nonlocal done, shown
        done += count
        tenths = 10 * done // length if length else 10
        if tenths > shown and done < length:
            shown = tenths
            click.echo(f"{label}: {done:,} of {length:,} ({100 * done // length}%)")

    yield update
    click.echo(f"{label}: {done:,} of {length:,} (done)")


def _is_missing_table(error: DBAPIError) -> bool:
    message = str(error.orig)
    return "no such table" in message or (
        isinstance(error, ProgrammingError) and "does not exist" in message
    )


users_cli = CommandGroup("users", help="Manage accounts.")
demo_cli = CommandGroup("demo", help="Load the demo programme.")
index_cli = CommandGroup("index", help="Build and inspect the search index.")
profiles_cli = CommandGroup("profiles", help="Import and export profiles.")
outbox_cli = CommandGroup("outbox", help="Send the emails waiting in the outbox.")
jobs_cli = CommandGroup("jobs", help="Run background jobs.")
tokens_cli = CommandGroup("tokens", help="Manage API tokens.")
events_cli = CommandGroup("events", help="Schedule brokerage events.")
matches_cli = CommandGroup("matches", help="Search for partners.")
searches_cli = CommandGroup("searches", help="Saved searches and their weekly digest.")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    required=True,
    help="The account's role.",
)
@click.option("--name", "display_name", required=True, help="The name other members see.")
@click.password_option(help="Prompted twice, hidden, when not given.")
def create_user(email: str, role: str, display_name: str, password: str) -> None:
    """Create an account with any role, including coordinators and admins."""
    try:
        user = accounts.create_user(email, password, display_name, role)
    except ValidationError as error:
        db.session.rollback()
        raise click.UsageError(f"{error.field}: {error.message}") from None
    db.session.commit()
    click.echo(f"Created {user.role.label} account {user.email}.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing unless the database is empty.")
def load(if_empty: bool) -> None:
    """Load the demo profiles and accounts; running it again adds only what is missing."""
    password = current_app.config["DEMO_PASSWORD"]
    if if_empty and not is_database_empty():
        click.echo("The database already holds data: demo data not loaded.")
    else:
        report = load_demo(password)
        db.session.commit()
        click.echo(
            f"Demo profiles: {report.profiles_created} created, "
            f"{report.profiles_present} already present. "
            f"Demo accounts created: {report.accounts_created}."
        )
        for error in report.errors:
            click.echo(f"  skipped {error}", err=True)
    if all(accounts.find_user_by_email(account.email) for account in DEMO_ACCOUNTS):
        click.echo(f"\nDemo logins (password for each: {password}):")
        for account in DEMO_ACCOUNTS:
            click.echo(f"  {account.role.label:<12} {account.email}")


@index_cli.command("rebuild")
@click.option(
    "--if-needed",
    is_flag=True,
    help="Only when the index is missing, damaged or built with another model or format.",
)
@click.option(
    "--threads", type=click.IntRange(1, 64), default=2, show_default=True, help="Torch threads."
)
def rebuild_index(if_needed: bool, threads: int) -> None:
    """Rebuild the search index from the database; the old index serves until it is done."""
    engine = get_engine()
    if if_needed:
        status = engine.status()
        if status.problem is None:
            click.echo(f"The search index is in place (version {status.manifest.version}).")
            return
        click.echo(_why_building(status))
    engine.set_threads(threads)
    started = time.perf_counter()
    manifest = _rebuild(engine, "Indexing profiles")
    click.echo(
        f"Index version {manifest.version}: {manifest.profiles} profiles, "
        f"{manifest.capability_passages + manifest.needs_passages} passages "
        f"in {time.perf_counter() - started:.1f} s."
    )


def _rebuild(engine: MatchingEngine, label: str) -> Manifest:
    """Rebuild with a progress bar; with Redis and a shared cache the RQ workers encode the
    missing passages first, with a progress bar of their chunks (jobs/scaleout.py)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    chunks = scaleout.chunks_to_encode(app, engine)
    if chunks:
        texts = sum(len(chunk.texts) for chunk in chunks)
        click.echo(
            f"{texts} passages are not in the shared cache: {len(chunks)} chunks queued for "
            "the workers (`flask --app wsgi jobs worker`, on any machine)."
        )
        try:
            with progress(len(chunks), "Encoding on the workers") as update:
                scaleout.encode_on_workers(app, engine, chunks, update)
        except scaleout.ChunksFailed as error:
            raise click.ClickException(f"{error} The previous index keeps serving.") from None
    with progress(engine.profile_count(), label) as update:
        return engine.rebuild(on_progress=update)


def _why_building(status: IndexStatus) -> str:
    """Say why a search index is being built, without the advice to build it."""
    if status.manifest is None:
        return (
            "There is no search index yet (or it cannot be read): building it now. The first "
            "build loads the language models and encodes every profile; it takes minutes."
        )
    return (
        "The search index was built with other settings (model, format or multilingual "
        "mode): building it again now."
    )


@index_cli.command("status")
def index_status() -> None:
    """Compare the search index with the database; exit 1 when it is stale."""
    status = get_engine().status()
    manifest = status.manifest
    click.echo(f"Model:              {status.model_id}")
    click.echo(f"Profiles in the DB: {status.database_profiles}")
    if manifest is None:
        click.echo("Index:              none")
    else:
        built = f"{manifest.index_type}, built {manifest.created_at}"
        click.echo(f"Index version:      {manifest.version} ({built})")
        click.echo(f"Index model:        {manifest.model_id}")
        click.echo(f"Indexed profiles:   {status.indexed_profiles}")
        click.echo(
            f"Indexed passages:   {manifest.capability_passages} capability, "
            f"{manifest.needs_passages} needs"
        )
        click.echo(f"Pending changes:    {status.pending_changes} (applied at the next search)")
    click.echo(f"Stale:              {'yes' if status.stale else 'no'}")
    if status.problem:
        click.echo(status.problem)
    if status.stale:
        raise SystemExit(1)


@matches_cli.command("search")
@click.argument("text")
@click.option("--kind", type=click.Choice(["sme", "expert"]), help="Only SMEs or only experts.")
@click.option("--economy", "economies", multiple=True, help="Only these economies (repeatable).")
@click.option(
    "--exclude-economy", "excluded", multiple=True, help="Not these economies (repeatable)."
)
@click.option("--sector", "sectors", multiple=True, help="Only these sectors (repeatable).")
@click.option(
    "--value-chain", "positions", multiple=True, help="Only these positions (repeatable)."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--min-strength",
    type=click.Choice(["weak", "good", "strong"]),
    default="weak",
    show_default=True,
    help="Leave out weaker matches.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def search_command(
    text: str,
    kind: str | None,
    economies: tuple[str, ...],
    excluded: tuple[str, ...],
    sectors: tuple[str, ...],
    positions: tuple[str, ...],
    limit: int,
    min_strength: str,
    as_json: bool,
) -> None:
    """Search profiles by the meaning of TEXT."""
    try:
        text = clean_text(text, "TEXT", required=True)
        filters = ProfileFilters(
            kind=kind,
            economies=tuple(reference.normalise_economy(e, "economy") for e in economies),
            exclude_economies=tuple(
                reference.normalise_economy(e, "exclude_economy") for e in excluded
            ),
            sectors=tuple(reference.check_sectors(sectors)),
            value_chain=tuple(reference.check_value_chain(positions)),
        )
    except ValidationError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from None
    try:
        found = search(get_engine(), text, filters, limit=limit, min_strength=min_strength)
    except IndexUnavailable as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        payload = {
            "total": found.total,
            "results": [presentation.search_result_record(result) for result in found.results],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{found.filtered_total} profiles pass the filters, {found.total} of them at least "
        f"{min_strength} matches; the best {len(found.results)}:"
    )
    for rank, result in enumerate(found.results, start=1):
        profile = result.profile
        where = f"{profile.kind.value}, {profile.economy_name}"
        click.echo(
            f"\n{rank:>2}. {result.score:.3f} {result.strength:<6}  {profile.name}  [{where}]"
        )
        for reason in presentation.search_reasons(result):
            click.echo(f"      {reason}")
        for evidence in result.evidence:
            title = presentation.evidence_title(evidence)
            click.echo(f"      {title}: \u201c{evidence.snippet}\u201d")


@matches_cli.command("recommend")
@click.argument("profile_id", type=ID)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--kind", type=click.Choice(["sme", "expert"]), help="Only SMEs or only experts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def recommend_command(profile_id: int, limit: int, kind: str | None, as_json: bool) -> None:
    """Recommend partners for the profile PROFILE_ID, with each factor's contribution."""
    profile = db.session.get(Profile, profile_id)
    if profile is None:
        raise click.BadParameter(f"there is no profile {profile_id}", param_hint="PROFILE_ID")
    try:
        recommendations = recommend(
            get_engine(),
            profile,
            limit,
            kind=kind,
            weights=current_weights(current_app.config),
            min_strength=current_app.config["RECOMMEND_MIN_STRENGTH"],
        )
    except IndexUnavailable as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        payload = [presentation.recommendation_record(rec) for rec in recommendations]
        click.echo(
            json.dumps({"profile": profile.id, "results": payload}, ensure_ascii=False, indent=2)
        )
        return
    click.echo(f"Recommended partners for {profile.name} [{profile.economy_name}]:")
    for rank, rec in enumerate(recommendations, start=1):
        where = f"{rec.profile.kind.value}, {rec.profile.economy_name}"
        click.echo(
            f"\n{rank:>2}. {rec.score:.3f} {rec.strength:<6} {rec.role:<10} {rec.profile.name}"
            f"  [{where}]"
        )
        perspective = presentation.perspective_of(rec, None)
        for factor in rec.factors:
            label = presentation.factor_label(factor.feature, perspective, has_needs=rec.has_needs)
            detail = presentation.factor_detail(factor)
            click.echo(f"      {factor.contribution:+.3f}  {label} ({detail})")
        for quote in rec.quotes:
            title = presentation.quote_title(quote, perspective)
            click.echo(f"      {title}: \u201c{quote.snippet}\u201d")


# Above this many changed profiles an import rebuilds the index instead of patching it, so
# that web workers load one new snapshot rather than each replaying a long journal.
IMPORT_REBUILD_THRESHOLD = 2000


@profiles_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(transfer.FORMATS), help="Default: from the file name."
)
def import_command(path: str, fmt: str | None) -> None:
    """Create or update profiles from a .jsonl or .csv file, by external_id; report bad rows."""
    try:
        rows = transfer.count_rows(path, fmt)
    except ValidationError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from None
    click.echo(
        f"Rows are kept {transfer.IMPORT_BATCH_ROWS} at a time: should the import stop, run "
        "it again, and the rows already imported are found unchanged."
    )
    try:
        with progress(rows, "Importing profiles") as update:
            report = transfer.import_profiles(
                path, fmt, on_row=lambda _line: update(1), commit=db.session.commit
            )
    except KeyboardInterrupt:
        db.session.rollback()
        raise click.ClickException(
            "Import interrupted: the rows imported before the last batch are kept. Run the "
            "same command again to finish; those rows are counted as unchanged."
        ) from None
    if report.file_rejected:
        [error] = report.errors
        raise click.ClickException(f"The file was refused, no row was read: {error}")
    for error in report.errors:
        click.echo(f"  rejected {error}", err=True)
    click.echo(
        f"Created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {report.rejected}."
    )
    if report.unchanged:
        click.echo(
            f"{report.unchanged} rows matched their profiles already (imported before): "
            "importing a file again is safe."
        )
    _make_searchable(report.created + report.updated)
    if report.imported == 0 and report.rejected:
        raise SystemExit(1)


def _make_searchable(changed: int) -> None:
    engine = get_engine()
    status = engine.status()
    if status.problem and engine.profile_count():
        # A fresh install that imports and then searches finds an index.
        click.echo(_why_building(status))
        _rebuild(engine, "Indexing profiles")
        click.echo("The imported profiles are searchable (index built).")
    elif not changed:
        return
    elif changed > IMPORT_REBUILD_THRESHOLD:
        _rebuild(engine, "Rebuilding the index")
        click.echo("The imported profiles are searchable (index rebuilt).")
    else:
        # A search encodes only a few changed profiles; the rest are encoded here, now.
        engine.sync()
        with progress(engine.catching_up, "Indexing the imported profiles") as update:
            engine.encode_pending(on_progress=update)
        engine.sync()
        click.echo("The imported profiles are searchable.")


@profiles_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "--format", "fmt", type=click.Choice(transfer.FORMATS), help="Default: from the file name."
)
def export_command(path: str, fmt: str | None) -> None:
    """Write every profile to a .jsonl or .csv file (contact emails included: staff only)."""
    try:
        count = transfer.export_profiles(path, fmt)
    except ValidationError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from None
    click.echo(f"Exported {count} profiles to {path}.")


def _deleted_profile(external_id: str) -> Profile:
    profile = transfer.find_profile(external_id)
    if profile is None:
        raise click.UsageError(f"No profile has the external id '{external_id}'.")
    if not profile.is_deleted:
        raise click.UsageError(f"The profile '{external_id}' is not deleted.")
    return profile


@profiles_cli.command("restore")
@click.argument("external_id")
def restore_command(external_id: str) -> None:
    """Bring back a deleted profile, named by its external id (or pm-<id>), before its purge."""
    profile = _deleted_profile(external_id)
    profiles.restore_profile(profile)
    db.session.commit()
    click.echo(f"Restored the profile '{external_id}' ({profile.name}).")


@profiles_cli.command("purge-deleted")
@click.option(
    "--external-id",
    help="Purge this deleted profile now (an external id or pm-<id>), whenever it was deleted.",
)
def purge_deleted_command(external_id: str | None) -> None:
    """Remove for good the profiles deleted more than 30 days ago (run it daily)."""
    if external_id is not None:
        profile = _deleted_profile(external_id)
        name = profile.name
        profiles.purge_profile(profile)
        db.session.commit()
        click.echo(f"Purged the profile '{external_id}' ({name}).")
        return
    count = profiles.purge_deleted_profiles()
    db.session.commit()
    click.echo(
        f"Purged {count} profiles deleted more than {profiles.RESTORE_DAYS} days ago."
        if count != 1
        else f"Purged 1 profile deleted more than {profiles.RESTORE_DAYS} days ago."
    )


@outbox_cli.command("send")
def send_outbox_command() -> None:
    """Send waiting emails through the configured SMTP server."""
    settings = current_app.config
    waiting = db.session.scalar(
        db.select(db.func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
    )
    if not settings["SMTP_HOST"]:
        click.echo(
            f"SMTP is not configured (PARTNERMATCH_SMTP_HOST): {waiting} messages wait in the "
            "outbox, where coordinators read them at /outbox."
        )
        return
    try:
        report = send_outbox(settings)
    except (OSError, smtplib.SMTPException) as error:
        raise click.ClickException(f"Could not reach {settings['SMTP_HOST']}: {error}") from None
    db.session.commit()
    click.echo(f"Sent {report.sent}, failed {report.failed} (failed ones stay queued).")


@searches_cli.command("send-digests")
def send_digests_command() -> None:
    """Tell the owners of saved searches, weekly, of new profiles that match them well."""
    try:
        report = send_digests(get_engine())
    except IndexUnavailable as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(
        f"{report.searches} saved searches were due; {report.notified} had new good matches "
        "(notified in the app and through the outbox)."
    )


@matches_cli.command("suggest")
@click.option("--sector", "sectors", multiple=True, help="SMEs of these sectors (repeatable).")
@click.option("--economy", "economies", multiple=True, help="SMEs of these economies (repeatable).")
@click.option(
    "--sme", "sme_ids", type=ID, multiple=True, help="These SME profile ids (repeatable)."
)
@click.option(
    "--k", type=click.IntRange(1, 10), default=3, show_default=True, help="Suggestions per SME."
)
@click.option(
    "--share",
    type=click.FloatRange(0, 1),
    default=None,
    help="Least share of each SME's suggestions from another economy [default: the setting].",
)
@click.option(
    "--capacity",
    type=click.IntRange(0, 100),
    default=None,
    help="Introductions a partner accepts per round [default: the setting].",
)
def suggest_command(
    sectors: tuple[str, ...],
    economies: tuple[str, ...],
    sme_ids: tuple[int, ...],
    k: int,
    share: float | None,
    capacity: int | None,
) -> None:
    """Suggest partners for a cohort of SMEs as one assignment, for coordinators to review."""
    settings = current_app.config
    try:
        filters = ProfileFilters(
            economies=tuple(reference.normalise_economy(e) for e in economies),
            sectors=tuple(reference.check_sectors(sectors)),
        )
    except ValidationError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from None
    smes = cohort_smes(filters, sme_ids)
    if not smes:
        raise click.ClickException("No SME profile is in this cohort.")
    try:
        with progress(len(smes), "Scoring candidates") as update:
            report = suggest_for_cohort(
                get_engine(),
                smes,
                k=k,
                cross_share=settings["COHORT_CROSS_ECONOMY_SHARE"] if share is None else share,
                capacity=settings["INTRODUCTION_CAPACITY"] if capacity is None else capacity,
                weights=current_weights(settings),
                min_strength=settings["RECOMMEND_MIN_STRENGTH"],
                on_sme=lambda _sme: update(1),
            )
    except IndexUnavailable as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    solved, greedy = report.assignment, report.greedy
    click.echo(f"{report.created} suggestions for {report.smes} SMEs, waiting for review.")
    click.echo(
        f"Total score {solved.total_score:.2f} ({solved.status.value}, {solved.wall_time:.1f} s); "
        f"unconstrained top-{k} {solved.unconstrained_total:.2f} (the rules cost "
        f"{100 * (1 - solved.ratio):.1f}%); greedy {greedy.total_score:.2f}."
    )


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def jobs_worker(burst: bool) -> None:
    """Run queued jobs from Redis (PARTNERMATCH_REDIS_URL) in this process."""
    if not current_app.config["REDIS_URL"]:
        raise click.ClickException(
            "PARTNERMATCH_REDIS_URL is not set: jobs run in threads of the web process."
        )
    from rq import SimpleWorker

    queue = job_queue(current_app)
    # SimpleWorker runs each job in this process, inside this application's context.
    SimpleWorker([queue], connection=queue.connection).work(burst=burst)


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="Command line", show_default=True, help="What the token is for.")
def create_token_command(email: str, name: str) -> None:
    """Create an API token for an account; the token is the last line printed."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.UsageError(f"email: there is no account {email}")
    try:
        _token, secret = create_token(user, name)
    except ValidationError as error:
        raise click.UsageError(f"{error.field}: {error.message}") from None
    db.session.commit()
    click.echo(f"API token for {user.email} ({user.role.label}). It is shown only now:")
    click.echo(secret)


REASON_WORDS = {
    "no_common_slot": "no common free slot",
    "cap_reached": "a meeting cap is reached",
    "no_table": "no table is free",
    "conflict": "it does not fit with the others",
}


@events_cli.command("schedule")
@click.argument("event_id", type=ID)
@click.option(
    "--time-limit",
    type=click.FloatRange(0.1, 600),
    default=scheduling.DEFAULT_TIME_LIMIT,
    show_default=True,
    help="Seconds the solver may search; the best schedule found by then is kept.",
)
def schedule_command(event_id: int, time_limit: float) -> None:
    """Place an event's accepted requests and mutual opt-ins into tables and slots."""
    event = db.session.get(Event, event_id)
    if event is None:
        raise click.ClickException(f"No event has the id {event_id}.")
    try:
        with progress(1, "Scheduling") as update:
            report = scheduling.schedule_event(
                event, time_limit=time_limit, progress=lambda line: click.echo(f"  {line}")
            )
            update(1)
    except scheduling.SchedulingError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(
        f"{report.proposed} meetings proposed, {report.kept} published ones kept, "
        f"{len(report.unplaced)} of {report.wanted} wanted not placed."
    )
    gain = report.weight - report.greedy_weight
    click.echo(
        f"Weight {report.weight:.1f} of {report.upper_bound:.1f} possible ({report.status}, "
        f"{report.seconds:.1f} s); a quick greedy schedule would place {report.greedy_weight:.1f} "
        f"({gain:+.1f})."
    )
    for item in report.unplaced[:20]:
        click.echo(
            f"  not placed: {item.first.profile.name} with {item.second.profile.name}"
            f"{f' and {item.third.profile.name}' if item.third else ''}: "
            f"{REASON_WORDS.get(item.reason, item.reason)}"
        )
    if len(report.unplaced) > 20:
        click.echo(f"  ... and {len(report.unplaced) - 20} more.")
