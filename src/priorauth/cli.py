"""The ``priorauth`` command line: thin commands over the public API."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from priorauth.determination import Determination, determination_schema
from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError
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
    trace: Annotated[bool, typer.Option(help="Include the trace in JSON output.")] = True,
    policy: PolicyOpt = None,
) -> None:
    """Decide prior-authorization requests and show why.

    Exit status: 0 for any determination, 2 for input that cannot be decided (the message names
    the field and the problem). With --batch, a bad line becomes {"line": N, "error": ...} in the
    output and the batch goes on; the exit status is then 2.
    """
    with _one_line_errors():
        engine = _engine(policy)
        if batch is not None:
            if requests:
                raise BadInput("give either request files or --batch, not both")
            raise typer.Exit(_run_batch(engine, batch, trace))
        if not requests:
            raise BadInput("give a request file, '-' for stdin, or --batch FILE.ndjson")
        decided: list[tuple[str, Determination]] = []
        for path in requests:
            try:
                det = engine.evaluate_json(_read(path))
            except PriorAuthError as exc:
                if len(requests) == 1:
                    raise
                raise BadInput(f"{path}: {exc}") from None
            decided.append((path, det))
        if as_json:
            dumps = [_dump(d, trace) for _, d in decided]
            print(json.dumps(dumps[0] if len(dumps) == 1 else dumps, indent=2))
            return
        for path, det in decided:
            out.print(determination_view(det, "stdin" if path == "-" else path))
        if len(decided) > 1:
            out.print(summary_table(decided))


def _run_batch(engine: Engine, path: Path, trace: bool) -> int:
    bad = 0
    write = sys.stdout.write
    for n, line in enumerate(_read(str(path)).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: dict[str, Any] = _dump(engine.evaluate_json(line), trace)
        except PriorAuthError as exc:
            bad += 1
            row = {"line": n, "error": str(exc)}
            err.print(f"line {n}: {exc}", markup=False, soft_wrap=True)
        write(json.dumps(row) + "\n")
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
) -> None:
    """Import a published policy document as a policy file, with a report for review.

    Every criterion line becomes a typed condition when the importer is sure, otherwise a yes/no
    question with the exact wording; every line of the requirement and limit sections ends up in
    the policy or in the report's unplaced text.
    """
    from priorauth.importer import import_document
    from priorauth.policy.dump import policy_yaml, write_atomically

    with _one_line_errors():
        if plan is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", plan):
            raise BadInput(
                f"--plan: {plan!r} is not a plan name (lowercase letters, digits, . _ -)"
            )
        result = import_document(document, plan=plan, line_of_business=line_of_business)
        text = policy_yaml(
            result.policy,
            f"Imported by `priorauth policy import` from {document}.\n"
            "Review it with the import report and `priorauth policy lint` before shipping.",
        )
        try:
            if output is not None:
                write_atomically(output, text)
            else:
                sys.stdout.write(text)
            if report is not None:
                write_atomically(report, result.report_markdown())
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
        from priorauth.service.app import create_app
        from priorauth.service.config import get_settings

        settings = get_settings()
        if workers > 1:
            # Migrate once here; each worker then builds its app without migrating.
            create_app(settings)
        from sqlalchemy.engine import make_url

        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        out.print(
            f"priorauth: serving on http://{host}:{port} (API docs at /docs), database {shown}"
        )
        if settings.demo_keys:
            out.print(
                "demo keys: demo-submitter-key, demo-other-clinic-key, demo-reviewer-key, "
                "demo-reviewer2-key, demo-admin-key (send as 'Authorization: Bearer KEY')"
            )
        try:
            uvicorn.run(
                "priorauth.service.main:app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
            )
        except OSError as exc:
            raise BadInput(f"cannot serve on {host}:{port}: {exc}") from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (PRIORAUTH_DATABASE_URL) to the latest migration."""
    from sqlalchemy.exc import SQLAlchemyError

    from priorauth.service.config import get_settings
    from priorauth.service.db import Database
    from priorauth.service.migrate import upgrade

    with _one_line_errors():
        db = Database(get_settings().database_url)
        shown = db.engine.url.render_as_string(hide_password=True)
        try:
            upgrade(db.engine)
        except SQLAlchemyError as exc:
            detail = str(exc.args[0]).replace(str(db.engine.url.password or "\x00"), "***")
            raise BadInput(f"database {shown}: {exc.__class__.__name__}: {detail}") from None
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
    from priorauth.service.config import get_settings
    from priorauth.service.db import Database
    from priorauth.service.migrate import upgrade

    with _one_line_errors():
        db = Database(get_settings().database_url)
        upgrade(db.engine)
        try:
            with db.session() as s:
                key = create_key(s, role, org, name)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        print(key)
