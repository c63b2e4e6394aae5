"""The ``priorauth`` command line: thin commands over the public API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from priorauth.batch import run_batch
from priorauth.determination import Determination, determination_schema
from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError
from priorauth.explain import explanation
from priorauth.policy.load import load_policy
from priorauth.policy.model import Policy
from priorauth.render import determination_view, policy_view, summary_table
from priorauth.request import Request

app = typer.Typer(
    help="Prior-authorization determinations from drug policies kept as data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The service's database.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the service.", no_args_is_help=True)
policy_app = typer.Typer(
    help="Inspect the policies the engine decides against.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class BadInput(Exception):
    """A problem with what the user gave: one line on stderr and exit status 2."""


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except (PriorAuthError, BadInput) as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _engine(policy_file: Path | None) -> Engine:
    if policy_file is None:
        return Engine()
    return Engine(policies=[load_policy(policy_file)])


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({exc})") from None


def _dump(det: Determination, trace: bool) -> dict[str, Any]:
    return det.model_dump(mode="json", exclude=None if trace else {"trace"})


def _explained(engine: Engine, det: Determination) -> dict[str, Any] | None:
    """A denial's explanation, the same the service keeps with a case: the appeal deadline is
    counted from today, the day the requester would be told."""
    if det.decision != "denied":
        return None
    return explanation(
        engine, _dump(det, False), det.decision, False, None, "engine", dt.date.today()
    )


def _shown(engine: Engine, det: Determination, trace: bool) -> dict[str, Any]:
    """The determination as JSON; a denial carries its `explanation` as the service stores it."""
    dumped = _dump(det, trace)
    if (told := _explained(engine, det)) is not None:
        dumped["explanation"] = told
    return dumped


PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Decide against this policy file instead of the built-in ones."),
]


@app.command()
def evaluate(
    requests: Annotated[
        list[str] | None,
        typer.Argument(help="Request JSON files; '-' reads one from stdin.", show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the determination as JSON.")
    ] = False,
    batch: Annotated[
        Path | None,
        typer.Option(help="NDJSON file: one request a line in, one determination a line out."),
    ] = None,
    trace: Annotated[
        bool | None,
        typer.Option(
            help="Include the trace in JSON output (default: on with --json, off with --batch).",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", help="With --batch: worker processes (0: one per core)."),
    ] = 1,
    policy: PolicyOpt = None,
) -> None:
    """Decide prior-authorization requests and show why.

    Exit status: 0 for any determination, 2 for input that cannot be decided (the message names
    the field and the problem). With several files, a bad one is reported and the others are
    still decided; the exit status is then 2. With --batch, a bad line becomes
    {"line": N, "error": ...} in the output and the batch goes on; the exit status is then 2.
    """
    with _one_line_errors():
        engine = _engine(policy)
        if batch is not None:
            if requests:
                raise BadInput("give either request files or --batch, not both")
            raise typer.Exit(_run_batch(engine, batch, bool(trace), jobs))
        if not requests:
            raise BadInput("give a request file, '-' for stdin, or --batch FILE.ndjson")
        if len(requests) == 1:
            det = engine.evaluate_json(_read(requests[0]))
            if as_json:
                print(json.dumps(_shown(engine, det, trace is not False), indent=2))
            else:
                source = "stdin" if requests[0] == "-" else requests[0]
                out.print(determination_view(det, source, _explained(engine, det)))
            return
        # Several files: a bad one is reported on stderr and the others are still decided and
        # printed; the exit status is 2 at the end if any was bad.
        decided: list[tuple[str, Determination]] = []
        bad = 0
        for path in requests:
            try:
                decided.append((path, engine.evaluate_json(_read(path))))
            except (PriorAuthError, BadInput) as exc:
                bad += 1
                shown = str(exc) if str(exc).startswith(f"{path}:") else f"{path}: {exc}"
                err.print(f"error: {shown}", markup=False, soft_wrap=True)
        if as_json:
            print(json.dumps([_shown(engine, d, trace is not False) for _, d in decided], indent=2))
        else:
            for path, det in decided:
                source = "stdin" if path == "-" else path
                out.print(determination_view(det, source, _explained(engine, det)))
            if len(decided) > 1:
                out.print(summary_table(decided))
        if bad:
            raise typer.Exit(2)


def _run_batch(engine: Engine, path: Path, trace: bool, jobs: int) -> int:
    def report(n: int, message: str) -> None:
        err.print(f"line {n}: {message}", markup=False, soft_wrap=True)

    sys.stdout.flush()
    sink = sys.stdout.buffer
    try:
        source = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc})") from None
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    try:
        with source:
            bad = run_batch(engine, source, sink, trace=trace, jobs=workers, on_error=report)
        sink.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        raise BadInput(f"cannot write the output ({exc.strerror or exc})") from None
    return 2 if bad else 0


def _find_policy(engine: Engine, name: str) -> Policy:
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        return load_policy(name)
    versions = engine.versions(name)
    return versions[-1]


@policy_app.command("import")
def policy_import(
    document: Annotated[
        Path, typer.Argument(help="The published document: text, Markdown or PDF.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the policy YAML here (else stdout)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the import report (Markdown) here.")
    ] = None,
    plan: Annotated[
        str | None,
        typer.Option("--plan", help="The plan whose policy this is (e.g. fep, blue-commercial)."),
    ] = None,
    line_of_business: Annotated[
        str | None,
        typer.Option(
            "--line-of-business",
            help="Which duration to take when the document gives one per line of business "
            "(commercial, medicaid, medicare, marketplace).",
        ),
    ] = None,
    allow_unread: Annotated[
        bool,
        typer.Option(
            "--allow-unread",
            help="Write the policy even when its criteria section was found but no criterion "
            "could be read from it (the policy then asks one question); without it that exits 2.",
        ),
    ] = False,
    effective_date: Annotated[
        str | None,
        typer.Option(
            "--effective-date",
            help="The date the policy takes effect (YYYY-MM-DD), when the document does not "
            "state it (or states it wrongly). Without it, a document that states none is written "
            "with effective_date: null, which does not load until the date is set.",
        ),
    ] = None,
) -> None:
    """Import a published policy document as a policy file, with a report for review.

    Every criterion line becomes a typed condition when the importer is sure, otherwise a yes/no
    question with the exact wording; every line of the requirement and limit sections ends up in
    the policy or in the report's unplaced text. A group whose document does not say whether all
    or one of its items must hold is imported as ambiguous (it pends unless both readings agree)
    and named in the report. A criteria section found but not read exits 2 (see --allow-unread).
    """
    from priorauth.importer import import_document
    from priorauth.policy.dump import write_atomically

    with _one_line_errors():
        if plan is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", plan):
            raise BadInput(
                f"--plan: {plan!r} is not a plan name (lowercase letters, digits, . _ -)"
            )
        day = None
        if effective_date is not None:
            try:
                day = dt.date.fromisoformat(effective_date)
            except ValueError:
                raise BadInput(
                    f"--effective-date: {effective_date!r} is not a date (YYYY-MM-DD)"
                ) from None
        result = import_document(
            document, plan=plan, line_of_business=line_of_business, effective_date=day
        )
        if result.unread and not allow_unread:
            raise BadInput(f"{document}: {result.unread}; --allow-unread imports it anyway")
        text = result.policy_yaml(
            f"Imported by `priorauth policy import` from {document}.\n"
            "Review it with the import report and `priorauth policy lint` before shipping.",
        )
        try:
            if output is not None:
                write_atomically(output, text)
            else:
                sys.stdout.write(text)
            if report is not None:
                from priorauth.importer.report import render_markdown

                write_atomically(report, render_markdown(result))
        except OSError as exc:
            raise BadInput(f"cannot write: {exc}") from None
        from priorauth.importer.report import summary_view

        (out if output is not None else err).print(summary_view(result, str(output or "")))


@policy_app.command("lint")
def policy_lint(
    name: Annotated[str, typer.Argument(help="A policy YAML file, or a built-in policy's name.")],
) -> None:
    """Check a policy: structure, unknown codes or drugs, unreachable branches, questions that
    could be typed. Exit status 1 when there is an error."""
    from priorauth.importer.review import lint

    with _one_line_errors():
        p = _find_policy(Engine(), name)
        findings = lint(p)
        styles = {"error": "red", "warning": "yellow", "info": "dim"}
        for f in findings:
            out.print(f"[{styles[f.level]}]{f.level}[/]: {f.where}: {f.message}", soft_wrap=True)
        errors = sum(f.level == "error" for f in findings)
        out.print(f"{p.number} {p.title}: {errors} errors, {len(findings) - errors} other findings")
        if errors:
            raise typer.Exit(1)


@policy_app.command("diff")
def policy_diff(
    old: Annotated[str, typer.Argument(help="The older policy (YAML file or built-in name).")],
    new: Annotated[str, typer.Argument(help="The newer policy (YAML file or built-in name).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
) -> None:
    """What a new version changes: criteria added, removed and changed, limits, metadata."""
    from priorauth.importer.review import diff

    with _one_line_errors():
        engine = Engine()
        d = diff(_find_policy(engine, old), _find_policy(engine, new))
        if as_json:
            print(json.dumps(d, indent=2, default=str))
            return
        for cid, text in d["added"].items():
            out.print(f"[green]+ {cid}[/]: {text}", soft_wrap=True, markup=True)
        for cid, text in d["removed"].items():
            out.print(f"[red]- {cid}[/]: {text}", soft_wrap=True)
        for cid, fields in d["changed"].items():
            for field, (a, b) in fields.items():
                out.print(f"[yellow]~ {cid}[/] {field}: {a} -> {b}", soft_wrap=True)
        for key, (a, b) in {**d["limits"], **d["metadata"]}.items():
            out.print(f"[yellow]~ {key}[/]: {a} -> {b}", soft_wrap=True)
        for h in d["history_added"]:
            out.print(f"[green]+ history[/] {h['date']}: {h['action']}", soft_wrap=True)
        if not any(d[k] for k in ("added", "removed", "changed", "limits", "metadata")):
            out.print("no differences in criteria, limits or metadata")


@policy_app.command("list")
def policy_list() -> None:
    """List the built-in policies and their versions."""
    from rich.table import Table

    with _one_line_errors():
        engine = Engine()
        plans = sorted({engine.plan_of(p) for p in engine.policies})
        for plan in plans:  # one table per plan: whose policies they are
            table = Table(title=f"Policies of plan {plan}", title_justify="left")
            for col in ("number", "drug", "generic", "effective", "indications"):
                table.add_column(col)
            for p in engine.policies:
                if engine.plan_of(p) != plan:
                    continue
                indications = [n.text for n in p.requirements.initial.walk() if n.indication]
                table.add_row(
                    p.number,
                    p.drug.brand,
                    p.drug.generic,
                    str(p.effective_date),
                    "; ".join(indications),
                )
            out.print(table)


@policy_app.command("show")
def policy_show(
    name: Annotated[str, typer.Argument(help="Drug name, policy number, or a policy YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the policy as JSON.")] = False,
) -> None:
    """Show a policy: metadata, limits and its criteria trees (the latest version)."""
    with _one_line_errors():
        p = _find_policy(Engine(), name)
        if as_json:
            print(p.model_dump_json(indent=2))
        else:
            out.print(policy_view(p))


@app.command()
def questions(
    name: Annotated[str, typer.Argument(help="Drug name, policy number, or a policy YAML file.")],
    renewal: Annotated[bool, typer.Option("--renewal", help="Renewal requirements.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List every question a policy can ask, with the criterion wording it stands for."""
    with _one_line_errors():
        p = _find_policy(Engine(), name)
        engine = Engine(policies=[p])
        qs = engine.questions(p, "renewal" if renewal else "initial")
        if as_json:
            print(json.dumps([dataclasses.asdict(q) for q in qs], indent=2))
            return
        from rich.table import Table

        table = Table(
            title=f"{p.number} {p.title}: {'renewal' if renewal else 'initial'} questions"
        )
        table.add_column("id", style="cyan", no_wrap=True)
        table.add_column("question")
        table.add_column("policy wording", style="dim")
        for q in qs:
            table.add_row(q.id, q.text, q.criterion_text)
        out.print(table)


@app.command()
def schema(
    which: Annotated[str, typer.Argument(help="request or determination")],
) -> None:
    """Print the JSON Schema of the request or the determination contract."""
    with _one_line_errors():
        if which == "request":
            doc = Request.model_json_schema()
        elif which == "determination":
            doc = determination_schema()
        else:
            raise BadInput(f"schema: expected 'request' or 'determination', got {which!r}")
        print(json.dumps(doc, indent=2))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the PA case service (FastAPI on uvicorn); database from PRIORAUTH_DATABASE_URL,
    SQLite under var/ by default. Migrations run at start-up."""
    import uvicorn

    with _one_line_errors():
        from priorauth.service.startup import SettingsError, StartupError, prepare

        try:
            # Settings checked, database reached and migrated before anything is served.
            settings = prepare()
        except (SettingsError, StartupError) as exc:
            raise BadInput(str(exc)) from None
        _check_port(host, port)
        from sqlalchemy.engine import make_url

        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        out.print(
            f"priorauth: serving on http://{host}:{port} (workbench at /ui, API docs at /docs), "
            f"database {shown}"
        )
        if settings.demo_keys:
            out.print(
                "demo keys: demo-submitter-key, demo-other-clinic-key, demo-reviewer-key, "
                "demo-reviewer2-key, demo-admin-key (send as 'Authorization: Bearer KEY')"
            )
        try:
            uvicorn.run(
                "priorauth.server:app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
            )
        except OSError as exc:
            raise BadInput(f"cannot serve on {host}:{port}: {exc}") from None


def _check_port(host: str, port: int) -> None:
    """The address can be listened on (else one line now, not "serving on" and then uvicorn's
    error)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise BadInput(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def _database(demo_keys: bool = False) -> Any:
    """The service's database, checked and migrated, or one line naming what is wrong."""
    from priorauth.service.config import load_settings
    from priorauth.service.startup import SettingsError, StartupError, open_database

    try:
        return open_database(load_settings(), demo_keys=demo_keys)
    except (SettingsError, StartupError) as exc:
        raise BadInput(str(exc)) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (PRIORAUTH_DATABASE_URL) to the latest migration."""
    with _one_line_errors():
        db = _database()
        shown = db.engine.url.render_as_string(hide_password=True)
        db.engine.dispose()
        out.print(f"database at the latest migration: {shown}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="submitter, reviewer or admin.")],
    org: Annotated[str | None, typer.Option(help="The provider organization (submitters).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Who holds the key (shown in the audit log).")
    ] = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from priorauth.service.auth import create_key

    with _one_line_errors():
        db = _database()
        try:
            with db.session() as s:
                key = create_key(s, role, org, name)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        finally:
            db.engine.dispose()
        print(key)


@keys_app.command("list")
def keys_list() -> None:
    """List the API keys: number, name, role, organization, created, revoked (never the keys)."""
    from rich.table import Table
    from sqlalchemy import select

    from priorauth.service.models import ApiKey

    with _one_line_errors():
        db = _database()
        try:
            with db.reading() as s:
                rows = s.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        finally:
            db.engine.dispose()
        table = Table(title="API keys", title_justify="left")
        for col in ("number", "name", "role", "org", "created", "revoked"):
            table.add_column(col)
        for k in rows:
            table.add_row(
                str(k.id),
                k.name,
                k.role,
                k.org or "",
                f"{k.created_at:%Y-%m-%d %H:%M}",
                f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
            )
        out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's number (keys list), its exact name, or the key.")
    ],
) -> None:
    """Revoke an API key: every running worker refuses it within PRIORAUTH_KEY_CACHE_SECONDS
    (1 s)."""
    from priorauth.service.auth import revoke_key

    with _one_line_errors():
        db = _database()
        try:
            with db.session() as s:
                row = revoke_key(s, key)
                shown = f"{row.id} ({row.name}, {row.role})"
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        finally:
            db.engine.dispose()
        out.print(f"revoked key {shown}", markup=False)


# --- post-service review of paid claims, and policy impact (priorauth.claims) ------------------

claims_app = typer.Typer(
    help="Post-service review of paid claims, and synthetic claims to try it on.",
    no_args_is_help=True,
)
app.add_typer(claims_app, name="claims")


@claims_app.command("review")
def claims_review(
    claims: Annotated[Path, typer.Argument(help="Paid claims: a .csv or .parquet file.")],
    authorizations: Annotated[
        str,
        typer.Option(
            "--authorizations",
            help="Authorizations: a .csv or .parquet file, or 'db' for the service's database "
            "(PRIORAUTH_DATABASE_URL).",
        ),
    ],
    findings: Annotated[
        Path | None, typer.Option("--out", help="Write the findings here (.csv or .parquet).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML report with charts here.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Write rows that could not be read here (.csv or .parquet); default: beside "
            "--out as NAME.rejects.csv.",
        ),
    ] = None,
    engine_name: Annotated[
        str, typer.Option("--engine", help="duckdb (one machine) or spark (PySpark).")
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="spark.master for --engine spark (default $SPARK_MASTER, else local[*]).",
        ),
    ] = None,
    policy: PolicyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Review paid claims against the authorizations on file and the policies: one finding per
    flagged claim (no_authorization, expired_authorization, over_daily_dose) with the dollars at
    risk. Rows that cannot be read go to the rejects file and never stop the run."""
    from priorauth.claims import extras

    with _one_line_errors():
        if engine_name not in ("duckdb", "spark"):
            raise BadInput(f"--engine: expected duckdb or spark, got {engine_name!r}")
        if engine_name == "spark":
            extras.require("claims review --engine spark", extras.SPARK)
        else:
            extras.require("claims review", extras.CLAIMS)
        from priorauth.claims.console import progress_bar, summary_table

        for path, what in ((findings, "--out"), (report, "--report"), (rejects, "--rejects")):
            if path is not None and path.exists() and path.is_dir():
                raise BadInput(f"{what}: {path} is a directory")
        auths: Any
        if authorizations == "db":
            from priorauth.claims.database import read_authorizations

            auths = read_authorizations()
        else:
            auths = Path(authorizations)
        engine = _engine(policy)
        with progress_bar(err) as progress:
            if engine_name == "spark":
                from priorauth.claims.spark import review as spark_review

                try:
                    result = spark_review(claims, auths, engine, progress, master=spark_master)
                except PriorAuthError:
                    raise
                except Exception as exc:  # Py4J and Spark analysis errors: one line, no trace
                    text = str(exc).strip().splitlines()
                    raise BadInput(f"spark: {text[0] if text else type(exc).__name__}") from None
            else:
                from priorauth.claims.duckdb_review import review as duckdb_review

                result = duckdb_review(claims, auths, engine, progress)
            if findings is not None:
                result.write_findings(findings)
            rejects_path = rejects
            if rejects_path is None and findings is not None:
                stem = findings.name.rsplit(".", 1)[0]
                rejects_path = findings.with_name(stem + ".rejects.csv")
            if rejects_path is not None:
                result.write_rejects(rejects_path)
            if report is not None:
                from priorauth.claims.report import review_report
                from priorauth.policy.dump import write_atomically

                write_atomically(report, review_report(result, str(claims), str(authorizations)))
        for warning in result.warnings:
            err.print(f"warning: {warning}", markup=False, soft_wrap=True)
        if as_json:
            print(json.dumps(result.as_dict(), indent=2))
        else:
            out.print(summary_table(result))
        if result.claims_rejected or result.auths_rejected:
            where = f" (all in {rejects_path})" if rejects_path else " (--rejects FILE for all)"
            err.print(
                f"{result.claims_rejected:,} claims and {result.auths_rejected:,} authorizations "
                f"could not be read{where}:",
                markup=False,
                soft_wrap=True,
            )
            for file, row, problem in result.rejects_preview():
                err.print(f"  {file} row {row}: {problem}", markup=False, soft_wrap=True)
        written = [str(p) for p in (findings, rejects_path, report) if p is not None]
        if written:
            err.print("wrote " + ", ".join(written), markup=False, soft_wrap=True)


@claims_app.command("synth")
def claims_synth(
    n: Annotated[int, typer.Option("--n", min=1, help="How many claims.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for claims.* and authorizations.*.")
    ],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 1,
    start: Annotated[
        str, typer.Option("--start", help="First day of the year of fills (YYYY-MM-DD).")
    ] = "2026-04-01",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Write realistic synthetic paid claims and authorizations: members on a course of a drug
    with on-time and early refills, gaps, dose escalations, lapsed and late authorizations, and
    drugs no policy covers."""
    import datetime as dt

    from priorauth.claims import extras

    with _one_line_errors():
        extras.require("claims synth", extras.CLAIMS)
        from priorauth.claims.synth import synthesize

        if fmt not in ("parquet", "csv"):
            raise BadInput(f"--format: expected parquet or csv, got {fmt!r}")
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise BadInput(f"--start: not a date (YYYY-MM-DD): {start!r}") from None
        if out_dir.exists() and not out_dir.is_dir():
            raise BadInput(f"--out: {out_dir} is not a folder")
        claims_path, auths_path, n_auths = synthesize(n, out_dir, seed=seed, start=first, fmt=fmt)
        out.print(
            f"wrote {n:,} claims to {claims_path} and {n_auths:,} authorizations to {auths_path}",
            soft_wrap=True,
        )


@policy_app.command("impact")
def policy_impact(
    new: Annotated[Path, typer.Argument(help="The new policy version (YAML file).")],
    cases: Annotated[
        str,
        typer.Option(
            "--cases",
            help='Past requests: an NDJSON file (a request a line, or {"id", "request"}), '
            "or 'db' for every case in the service's database.",
        ),
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write one NDJSON line per changed case here (else stdout)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML report with charts here.")
    ] = None,
) -> None:
    """Decide past cases under the version in force then and under a new version, and show what
    changes: decision flips, the criteria behind each, and the cases affected."""
    from rich.table import Table

    from priorauth.claims.impact import analyse, cases_from_ndjson

    with _one_line_errors():
        policy = load_policy(new)
        if cases == "db":
            from priorauth.claims.database import read_cases
            from priorauth.claims.impact import CaseInput

            source = [CaseInput(cid, req) for cid, req, _ in read_cases()]
        else:
            source = list(cases_from_ndjson(_read(cases)))
        impact = analyse(policy, source)
        lines = "".join(json.dumps(c.as_json()) + "\n" for c in impact.changes)
        shown = out if out_file is not None else err
        if out_file is not None:
            from priorauth.policy.dump import write_atomically

            write_atomically(out_file, lines)
        else:
            sys.stdout.write(lines)
        if report is not None:
            from priorauth.claims.report import impact_report
            from priorauth.policy.dump import write_atomically

            write_atomically(report, impact_report(impact, cases))
        table = Table(
            title=f"Impact of {policy.number} {policy.title} (effective {policy.effective_date}): "
            f"{impact.decided:,} cases decided twice, {len(impact.changes):,} changed",
            title_justify="left",
        )
        table.add_column("from")
        table.add_column("to")
        table.add_column("cases", justify="right")
        table.add_column("criteria that changed")
        by_flip = impact.criteria_by_flip()
        for (a, b), n in impact.flips.most_common():
            crit = ", ".join(f"{c} ({k})" for c, k in by_flip[(a, b)].most_common(6))
            table.add_row(a, b, f"{n:,}", crit)
        shown.print(table)
        skipped = impact.other_drug + impact.no_version_then + len(impact.errors)
        if skipped:
            shown.print(
                f"not compared: {impact.other_drug:,} for other drugs, "
                f"{impact.no_version_then:,} with no version in force then, "
                f"{len(impact.errors):,} that could not be decided",
                soft_wrap=True,
            )
        for cid, problem in impact.errors[:5]:
            err.print(f"  {cid}: {problem}", markup=False, soft_wrap=True)


users_app = typer.Typer(help="People who sign in to the workbench (/ui).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: Annotated[str, typer.Option(help="submitter, reviewer or admin.")],
    org: Annotated[str | None, typer.Option(help="The provider organization (submitters).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Shown in the audit log (default: the username).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a workbench user; the password (asked twice, or read from stdin) is stored as an
    Argon2id hash."""
    from priorauth.service.config import get_settings
    from priorauth.service.db import Database
    from priorauth.service.migrate import upgrade
    from priorauth.service.users import create_user

    with _one_line_errors():
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        db = Database(get_settings().database_url)
        upgrade(db.engine)
        try:
            with db.session() as s:
                user = create_user(s, username, password, role, org, name)
                shown = f"{user.username} ({user.role}{', ' + user.org if user.org else ''})"
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        out.print(f"user created: {shown}")


clients_app = typer.Typer(
    help="SMART Backend Services clients of the FHIR API.", no_args_is_help=True
)
app.add_typer(clients_app, name="clients")


@clients_app.command("register")
def clients_register(
    jwks: Annotated[
        Path, typer.Option(help="The client's public keys: a JWK Set JSON file.", exists=True)
    ],
    role: Annotated[str, typer.Option(help="submitter, reviewer or admin.")],
    org: Annotated[str | None, typer.Option(help="The provider organization (submitters).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Who the client is (shown in the audit log).")
    ] = None,
) -> None:
    """Register a backend client by its public keys and print its client id: it signs a JWT
    assertion with its private key and trades it at POST /oauth/token for an access token."""
    import json as _json

    from priorauth.fhir.access import register_client
    from priorauth.service.config import get_settings
    from priorauth.service.db import Database
    from priorauth.service.migrate import upgrade

    with _one_line_errors():
        try:
            keys = _json.loads(jwks.read_text())
        except ValueError as exc:
            raise BadInput(f"{jwks}: not JSON ({exc})") from None
        if not isinstance(keys, dict):
            raise BadInput(f"{jwks}: expected a JWK Set object with 'keys'")
        db = Database(get_settings().database_url)
        upgrade(db.engine)
        try:
            client_id = register_client(db, name or jwks.stem, role, org, keys)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        print(client_id)


# --- gold cards (issue 22): evaluation, list, rescission; their post-service sample ---------

goldcard_app = typer.Typer(
    help="Gold cards: prescribers exempt from prior authorization for a drug.",
    no_args_is_help=True,
)
app.add_typer(goldcard_app, name="goldcard")


def _day(value: str, option: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{option}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def _cards(db: Any) -> Any:
    import datetime as dt

    from priorauth.service.goldcard import GoldCards

    return GoldCards(db, lambda: dt.datetime.now(dt.UTC))


def _print_cards(title: str, views: list[dict[str, Any]], as_json: bool) -> None:
    from rich.table import Table

    if as_json:
        print(json.dumps(views, indent=2))
        return
    table = Table(title=title, title_justify="left")
    columns = ("id", "npi", "drug", "decided", "approved", "approval_rate", "from", "until")
    for col in columns:
        table.add_column(col)
    for v in views:
        table.add_row(*(str(v[c]) for c in columns))
    out.print(table)


@goldcard_app.command("evaluate")
def goldcard_evaluate(
    as_of: Annotated[str, typer.Option("--as-of", help="The day evaluated (YYYY-MM-DD).")],
    as_json: Annotated[bool, typer.Option("--json", help="The cards granted as JSON.")] = False,
) -> None:
    """Grant the gold cards earned as of the day: per prescriber (NPI) and drug, the final
    decisions of the six months before it; at least 5 decided and at least 90% approved hold
    a card for six months from the day. The service runs this once a day by itself."""
    from priorauth.service.auth import Principal
    from priorauth.service.goldcard import card_view

    with _one_line_errors():
        day = _day(as_of, "--as-of")
        db = _database()
        try:
            granted = _cards(db).evaluate(day, Principal("command line", "admin", None))
        finally:
            db.engine.dispose()
        views = [card_view(c, day) for c in granted]
        _print_cards(f"{len(views)} gold cards granted as of {day}", views, as_json)


@goldcard_app.command("list")
def goldcard_list(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day (YYYY-MM-DD); today by default.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """The gold cards held on the day, rescinded ones left out."""
    import datetime as dt

    from priorauth.service.auth import Principal
    from priorauth.service.goldcard import card_view

    with _one_line_errors():
        day = _day(as_of, "--as-of") if as_of else dt.datetime.now(dt.UTC).date()
        db = _database()
        try:
            # A listing from here is not the service's daily run: it evaluates nothing.
            held = _cards(db).in_force(Principal("command line", "admin", None), day, False)
        finally:
            db.engine.dispose()
        _print_cards(f"Gold cards held on {day}", [card_view(c, day) for c in held], as_json)


@goldcard_app.command("rescind")
def goldcard_rescind(
    card: Annotated[int, typer.Argument(help="The card's id (goldcard list).")],
    reason: Annotated[str, typer.Option(help="Why: what the claims review found.")],
    by: Annotated[str, typer.Option(help="The reviewer rescinding it (in the audit trail).")],
) -> None:
    """Rescind a gold card: the prescriber's next requests for the drug are decided on their
    criteria again. Recorded in the card's audit trail with the reviewer and the reason."""
    from priorauth.service.auth import Principal
    from priorauth.service.errors import ServiceError

    with _one_line_errors():
        if not by.strip():
            raise BadInput("--by: name the reviewer")
        db = _database()
        try:
            row = _cards(db).rescind(Principal(by, "reviewer", None), card, reason)
        except ServiceError as exc:
            raise BadInput(exc.detail) from None
        finally:
            db.engine.dispose()
        out.print(f"rescinded gold card {row.id} (NPI {row.npi}, {row.drug})", markup=False)


@claims_app.command("gold-cards")
def claims_gold_cards(
    from_: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Last day of the period, inclusive.")],
    seed: Annotated[
        int, typer.Option(help="The sample's seed: the same seed, the same sample.")
    ] = 0,
    sample_size: Annotated[
        int, typer.Option("--sample-size", help="Claims sampled per card, 5 to 20.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="The results as JSON.")] = False,
) -> None:
    """Post-service review of the gold cards (the service's database, PRIORAUTH_DATABASE_URL):
    per card, a random sample of the requests approved under it in the period, checked against
    the policy; under 90% meeting the criteria: reported to rescind."""
    from rich.table import Table

    from priorauth.claims.files import ClaimsInputError
    from priorauth.claims.goldcard import check_size, sample_cards

    with _one_line_errors():
        start, end = _day(from_, "--from"), _day(to, "--to")
        if start > end:
            raise BadInput(f"--from: {start} is after --to ({end})")
        try:
            check_size(sample_size)
            _database().engine.dispose()  # the database reached and migrated, or one line
            results = sample_cards(Engine(), start, end, seed, sample_size)
        except (ValueError, ClaimsInputError) as exc:
            raise BadInput(str(exc)) from None
        if as_json:
            print(json.dumps([r.as_dict() for r in results], indent=2))
            return
        table = Table(title=f"Gold cards, claims from {start} to {end}", title_justify="left")
        for col in ("card", "npi", "drug", "claims", "sampled", "met", "share", "verdict"):
            table.add_column(col)
        for r in results:
            d = r.as_dict()
            table.add_row(
                *(str(d[k]) for k in ("gold_card", "npi", "drug", "claims", "sampled", "met")),
                "" if d["share"] is None else f"{d['share']:.0%}",
                d["verdict"],
            )
        out.print(table)


# --- metrics (issue 22): the real-time report and the CMS-0057-F figures ---------------------

metrics_app = typer.Typer(
    help="Reports on the service's cases (PRIORAUTH_DATABASE_URL), as the JSON API gives them.",
    no_args_is_help=True,
)
app.add_typer(metrics_app, name="metrics")

FromOpt = Annotated[
    str, typer.Option("--from", help="First day of the period received (YYYY-MM-DD).")
]
ToOpt = Annotated[str, typer.Option("--to", help="Last day of the period, inclusive.")]


def _period(from_: str, to: str) -> tuple[dt.date, dt.date]:
    start, end = _day(from_, "--from"), _day(to, "--to")
    if start > end:
        raise BadInput(f"--from: {start} is after --to ({end})")
    if end >= dt.date.max:
        raise BadInput(f"--to: {end} is out of range")
    return start, end


def _reporting_service() -> Any:
    """The case service over the database, with the policies the server decides against (the
    pend drivers are named in their words), read as an admin: the command line is the
    operator's."""
    from priorauth.service.config import SettingsError, load_policies, load_settings
    from priorauth.service.workflow import Service

    db = _database()
    try:
        settings = load_settings()
        engine = Engine(load_policies(settings), default_plan=settings.default_plan)
    except SettingsError as exc:
        db.engine.dispose()
        raise BadInput(str(exc)) from None
    return Service(db, engine, settings)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@metrics_app.command("real-time")
def metrics_real_time(
    from_: FromOpt,
    to: ToOpt,
    as_json: Annotated[
        bool, typer.Option("--json", help="The report as GET /metrics/real-time gives it.")
    ] = False,
) -> None:
    """Approvals of the requests received in the period, those answered at submission with no
    pend and no person, and their share against the 80% target, overall, by drug and by
    organization; and the questions that pended the most requests."""
    from rich.table import Table

    from priorauth.service import reports
    from priorauth.service.auth import Principal

    with _one_line_errors():
        start, end = _period(from_, to)
        service = _reporting_service()
        try:
            doc = reports.real_time(service, Principal("command line", "admin", None), start, end)
        finally:
            service.db.engine.dispose()
        if as_json:
            print(json.dumps(doc, indent=2))
            return
        verdict = {None: "no approvals", True: "meets", False: "below"}[doc["meets_target"]]
        out.print(
            f"Real-time approvals, requests received {start} to {end}: {doc['real_time']} of "
            f"{doc['approvals']} approvals ({_share(doc['share'])}), target "
            f"{doc['target']:.0%}: {verdict}",
            markup=False,
        )
        for key, title in (("by_drug", "By drug"), ("by_organization", "By organization")):
            name = "drug" if key == "by_drug" else "org"
            table = Table(title=title, title_justify="left")
            for col in (name, "approvals", "real time", "share"):
                table.add_column(col, justify="left" if col == name else "right")
            for row in doc[key]:
                table.add_row(
                    row[name], str(row["approvals"]), str(row["real_time"]), _share(row["share"])
                )
            out.print(table)
        drivers = Table(title="Pend drivers: the questions that pended the most requests")
        drivers.title_justify = "left"
        for col in ("requests", "id", "question"):
            drivers.add_column(col, justify="right" if col == "requests" else "left")
        for d in doc["pend_drivers"]:
            drivers.add_row(str(d["count"]), d["id"], d["text"])
        out.print(drivers)


@metrics_app.command("prior-authorization")
def metrics_prior_authorization(
    from_: FromOpt,
    to: ToOpt,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV, a row per urgency, as format=csv gives it.")
    ] = False,
) -> None:
    """The CMS-0057-F public-reporting figures of the requests received in the period, per
    urgency: percent approved, denied, approved after appeal, the real-time approvals, and the
    average and median hours to decision. Prints GET /metrics/prior-authorization's JSON."""
    from priorauth.service import reports
    from priorauth.service.auth import Principal

    with _one_line_errors():
        start, end = _period(from_, to)
        service = _reporting_service()
        try:
            who = Principal("command line", "admin", None)
            doc = reports.prior_authorization(service, who, start, end)
        finally:
            service.db.engine.dispose()
        if as_csv:
            sys.stdout.write(reports.prior_authorization_csv(doc))
        else:
            print(json.dumps(doc, indent=2))
