"""The same review on Spark (PySpark): the review's SQL, unchanged but for the dialect, run as
Spark SQL over the files; local mode by default, a cluster with ``spark.master``.

The files must be readable from every executor (a shared file system or object store on a
cluster). The findings and rejects, far fewer rows than the claims, come back to the driver as
Arrow and are written by the same writer the DuckDB review uses, so both engines produce the same
files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from priorauth.claims import review_sql as q
from priorauth.claims.duckdb_review import connect, rule_tables
from priorauth.claims.files import ClaimsInputError, check_input, columns_of, file_format
from priorauth.claims.outcome import Progress, Review, no_progress
from priorauth.claims.rules import build_rules
from priorauth.engine.engine import Engine

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"


def session(master: str | None = None) -> SparkSession:
    """A Spark session: the given master, else $SPARK_MASTER, else local mode on every core."""
    from pyspark.sql import SparkSession

    chosen = master or os.environ.get("SPARK_MASTER") or DEFAULT_MASTER
    builder = (
        SparkSession.builder.appName("priorauth-claims-review")
        .master(chosen)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if chosen.startswith("local"):
        # One machine: few shuffle partitions, and a driver heap big enough for 10M claims.
        builder = builder.config("spark.sql.shuffle.partitions", "8").config(
            "spark.driver.memory", os.environ.get("PRIORAUTH_SPARK_DRIVER_MEMORY", "3g")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _kind_of(spark_type: str) -> q.Kind:
    if spark_type.startswith(("date", "timestamp")):
        return "date"
    numeric = ("int", "bigint", "smallint", "tinyint", "double", "float", "decimal", "long")
    return "number" if spark_type.startswith(numeric) else "text"


def _read(spark: SparkSession, path: Path) -> DataFrame:
    try:
        if file_format(path, "input") == "parquet":
            return spark.read.parquet(str(path))
        return spark.read.option("header", "true").option("mode", "PERMISSIVE").csv(str(path))
    except Exception as exc:  # Spark raises its own analysis errors for unreadable files
        raise ClaimsInputError(str(path), f"cannot read: {_line(exc)}") from None


def _numbered(df: DataFrame) -> DataFrame:
    """Rows numbered from 1 in file order, in the JVM: monotonically_increasing_id carries the
    partition in its upper bits and the row within it in the lower ones; the partitions' sizes
    turn that into consecutive numbers."""
    from pyspark.sql import functions as F

    df = df.withColumn("_mid", F.monotonically_increasing_id())
    sizes = df.groupBy(F.shiftright("_mid", 33).alias("p")).agg(F.count("*").alias("n")).collect()
    offset = 0
    pairs: list[Any] = []
    for row in sorted(sizes, key=lambda r: r["p"]):
        pairs += [F.lit(row["p"]), F.lit(offset)]
        offset += row["n"]
    part = F.shiftright("_mid", 33)
    if not pairs:
        return df.withColumn("_row", F.lit(0).cast("long")).drop("_mid")
    start = F.element_at(F.create_map(*pairs), part)
    local = F.col("_mid") - F.shiftleft(part, 33)
    return df.withColumn("_row", start + local + 1).drop("_mid")


def review(
    claims: Path,
    authorizations: Path | pa.Table,
    engine: Engine | None = None,
    progress: Progress = no_progress,
    master: str | None = None,
) -> Review:
    started = time.perf_counter()
    engine = engine or Engine()
    check_input(claims, "claims")
    if not isinstance(authorizations, pa.Table):
        check_input(authorizations, "authorizations")
    progress("starting Spark", 0.0)
    spark = session(master)
    claims_df = _read(spark, claims)
    claim_cols = columns_of(
        [(f.name, f.dataType.simpleString()) for f in claims_df.schema.fields],
        q.CLAIM_COLUMNS,
        str(claims),
        "claims",
        _kind_of,
    )
    if isinstance(authorizations, pa.Table):
        auths_df = spark.createDataFrame(authorizations)
        auth_name = "authorizations (database)"
    else:
        auths_df = _read(spark, authorizations)
        auth_name = str(authorizations)
    auth_cols = columns_of(
        [(f.name, f.dataType.simpleString()) for f in auths_df.schema.fields],
        q.AUTH_COLUMNS,
        auth_name,
        "authorizations",
        _kind_of,
    )
    progress("numbering rows", 0.1)
    _numbered(claims_df).createOrReplaceTempView("claims_src")
    _numbered(auths_df).createOrReplaceTempView("auths_src")
    names = spark.sql(
        "SELECT DISTINCT CAST(drug_name AS STRING) AS n FROM claims_src "
        "UNION SELECT DISTINCT CAST(drug_name AS STRING) AS n FROM auths_src"
    ).collect()
    rules = build_rules(engine, sorted(str(r["n"]) for r in names if r["n"] is not None))
    for name, table in rule_tables(rules).items():
        spark.createDataFrame(table, schema=_spark_schema(table)).createOrReplaceTempView(name)
    extras = [alias for _, alias in claim_cols.extras]
    d = q.SPARK
    spark.sql(q.claims_checked(claim_cols.kinds, claim_cols.extras, d)).createOrReplaceTempView(
        "claims_checked"
    )
    spark.sql(q.auths_checked(auth_cols.kinds, d)).cache().createOrReplaceTempView("auths_checked")
    spark.sql(q.reviewed(extras, d)).createOrReplaceTempView("reviewed")
    spark.sql(q.matched()).createOrReplaceTempView("matched")
    progress("reviewing claims", 0.3)
    findings = spark.sql(q.findings(extras, d) + " ORDER BY _row").toArrow()
    progress("checking rows", 0.7)
    rejects = spark.sql(q.rejects()).toArrow()
    progress("counting", 0.85)
    c = spark.sql(q.counts()).collect()[0]
    progress("counting", 1.0)
    con = connect()
    con.register("findings_arrow", findings)
    con.execute("CREATE TEMP TABLE findings AS SELECT * FROM findings_arrow")
    con.register("rejects_arrow", rejects)
    con.execute("CREATE TEMP TABLE rejects AS SELECT * FROM rejects_arrow")
    out = Review("spark", con, rules, extras, warnings=list(rules.warnings))
    out.claims_read = int(c["claims_read"] or 0)
    out.claims_reviewed = int(c["claims_reviewed"] or 0)
    out.auths_read = int(c["auths_read"] or 0)
    out.count_rejects()
    out.tally()
    out.seconds = time.perf_counter() - started
    return out


def _spark_schema(table: pa.Table) -> Any:
    from pyspark.sql import types as T

    kinds = {
        pa.string(): T.StringType(),
        pa.date32(): T.DateType(),
        pa.float64(): T.DoubleType(),
        pa.bool_(): T.BooleanType(),
    }
    return T.StructType([T.StructField(f.name, kinds[f.type], True) for f in table.schema])


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
