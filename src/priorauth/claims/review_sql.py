"""The review as SQL: one text for DuckDB and Spark SQL, so that both engines apply the same rules.

Inputs are views: ``claims_src`` and ``auths_src`` (the files' columns plus ``_row``, the 1-based
row number), and the small tables from :mod:`priorauth.claims.rules`: ``drug_map``, ``versions``,
``strength_limits``. The statements below build, in order: ``claims_checked``, ``auths_checked``
(typed values and the problems of each row), ``reviewed`` (claims for a drug a policy covers, with
the version in force on the fill date), ``matched`` (per claim, what the member's authorizations
for that drug say), ``findings`` and ``rejects``.

Arithmetic is done in doubles in the same order in both engines and rounded with ``floor(x +
0.5)``, so the figures agree to the cent; numbers in the detail text are formatted from integers
for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CLAIM_COLUMNS = (
    "claim_id",
    "member_id",
    "fill_date",
    "drug_name",
    "strength_mg",
    "quantity",
    "days_supply",
    "prescriber_npi",
    "pharmacy_npi",
    "paid_amount",
)
AUTH_COLUMNS = ("member_id", "drug_name", "start", "end", "max_daily_dose_mg")
FINDING_COLUMNS = ("claim_id", "finding", "dollars_at_risk", "policy", "detail")
FINDINGS = ("no_authorization", "expired_authorization", "over_daily_dose")

# How a column arrives: text to parse (CSV, or a Parquet string column), or already typed.
Kind = Literal["text", "date", "number"]
# A dose above the limit by less than this share is arithmetic noise, not an overdose.
TOLERANCE = 1e-9
_ISO_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class Dialect:
    name: Literal["duckdb", "spark"]

    def q(self, ident: str) -> str:
        return f'"{ident}"' if self.name == "duckdb" else f"`{ident}`"

    def matches(self, expr: str, pattern: str) -> str:
        fn = "regexp_matches" if self.name == "duckdb" else "regexp_like"
        return f"{fn}({expr}, '{pattern}')"

    def days_between(self, earlier: str, later: str) -> str:
        if self.name == "duckdb":
            return f"date_diff('day', {earlier}, {later})"
        return f"datediff({later}, {earlier})"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def _text(col: str) -> str:
    return f"CAST({col} AS STRING)"


def _empty(col: str) -> str:
    return f"coalesce(trim(CAST({col} AS STRING)), '') = ''"


def _date(col: str, kind: Kind, d: Dialect) -> str:
    if kind == "date":
        return f"CAST({col} AS DATE)"
    s = f"trim(CAST({col} AS STRING))"
    return f"CASE WHEN {d.matches(s, _ISO_DATE)} THEN TRY_CAST({s} AS DATE) END"


def _number(col: str, kind: Kind) -> str:
    if kind == "number":
        return f"CAST({col} AS DOUBLE)"
    return f"TRY_CAST(trim(CAST({col} AS STRING)) AS DOUBLE)"


def fmt(expr: str) -> str:
    """A number as text with at most two decimals and no trailing zeros (960, 1066.67, 0.5),
    the same in both engines."""
    h = f"CAST(floor(({expr}) * 100 + 0.5) AS BIGINT)"
    whole = f"CAST(floor({h} / 100) AS BIGINT)"
    frac = f"({h} - {whole} * 100)"
    return (
        f"(CAST({whole} AS STRING) || CASE WHEN {frac} = 0 THEN '' "
        f"WHEN {frac} % 10 = 0 THEN '.' || CAST(CAST({frac} / 10 AS BIGINT) AS STRING) "
        f"ELSE '.' || lpad(CAST({frac} AS STRING), 2, '0') END)"
    )


def _positive(value: str, raw: str, field: str, upper: str = "1e9") -> str:
    # NaN sorts above every number in both engines, so the upper bound refuses it too.
    return (
        f"CASE WHEN NOT coalesce({value} > 0 AND {value} < {upper}, false) THEN "
        f"'{field}: not a positive number: ' || coalesce({raw}, 'empty') END"
    )


def claims_checked(kinds: dict[str, Kind], extras: list[tuple[str, str]], d: Dialect) -> str:
    """``extras``: (column in the file, name it keeps in the findings)."""
    q = d.q
    typed = ", ".join(
        [
            "_row",
            f"{_text(q('claim_id'))} AS claim_id",
            f"{_text(q('member_id'))} AS member_id",
            f"{_date(q('fill_date'), kinds['fill_date'], d)} AS fill_date",
            f"{_text(q('drug_name'))} AS drug_name",
            *(
                f"{_number(q(c), kinds[c])} AS {c}"
                for c in ("strength_mg", "quantity", "days_supply", "paid_amount")
            ),
            f"{_text(q('prescriber_npi'))} AS prescriber_npi",
            f"{_text(q('pharmacy_npi'))} AS pharmacy_npi",
            *(f"{q(c)} AS {q(alias)}" for c, alias in extras),
            *(
                f"{_text(q(c))} AS _raw_{c}"
                for c in ("fill_date", "strength_mg", "quantity", "days_supply", "paid_amount")
            ),
        ]
    )
    problems = ", ".join(
        [
            "CASE WHEN " + _empty("claim_id") + " THEN 'claim_id: empty' END",
            "CASE WHEN " + _empty("member_id") + " THEN 'member_id: empty' END",
            "CASE WHEN fill_date IS NULL THEN 'fill_date: not a date (YYYY-MM-DD): ' || "
            "coalesce(_raw_fill_date, 'empty') END",
            "CASE WHEN " + _empty("drug_name") + " THEN 'drug_name: empty' END",
            _positive("strength_mg", "_raw_strength_mg", "strength_mg"),
            _positive("quantity", "_raw_quantity", "quantity"),
            _positive("days_supply", "_raw_days_supply", "days_supply"),
            "CASE WHEN NOT coalesce(paid_amount >= 0 AND paid_amount < 1e12, false) THEN "
            "'paid_amount: not an amount of 0 or more: ' || coalesce(_raw_paid_amount, 'empty') "
            "END",
        ]
    )
    return (
        f"SELECT *, concat_ws('; ', {problems}) AS _problem FROM (SELECT {typed} FROM claims_src) t"
    )


def auths_checked(kinds: dict[str, Kind], d: Dialect) -> str:
    q = d.q
    typed = ", ".join(
        [
            "_row",
            f"{_text(q('member_id'))} AS member_id",
            f"{_text(q('drug_name'))} AS drug_name",
            f"{_date(q('start'), kinds['start'], d)} AS a_start",
            f"{_date(q('end'), kinds['end'], d)} AS a_end",
            f"{_number(q('max_daily_dose_mg'), kinds['max_daily_dose_mg'])} AS a_max_mg",
            f"{_text(q('start'))} AS _raw_start",
            f"{_text(q('end'))} AS _raw_end",
            f"{_text(q('max_daily_dose_mg'))} AS _raw_max",
        ]
    )
    problems = ", ".join(
        [
            "CASE WHEN " + _empty("member_id") + " THEN 'member_id: empty' END",
            "CASE WHEN " + _empty("drug_name") + " THEN 'drug_name: empty' END",
            "CASE WHEN a_start IS NULL THEN 'start: not a date (YYYY-MM-DD): ' || "
            "coalesce(_raw_start, 'empty') END",
            "CASE WHEN a_end IS NULL THEN 'end: not a date (YYYY-MM-DD): ' || "
            "coalesce(_raw_end, 'empty') END",
            "CASE WHEN a_end < a_start THEN 'end: before start (' || CAST(a_start AS STRING) || "
            "' to ' || CAST(a_end AS STRING) || ')' END",
            "CASE WHEN NOT " + _empty("_raw_max") + " AND NOT coalesce(a_max_mg > 0 AND "
            "a_max_mg < 1e9, false) THEN 'max_daily_dose_mg: not a positive number: ' || "
            "_raw_max END",
        ]
    )
    return (
        f"SELECT *, concat_ws('; ', {problems}) AS _problem FROM (SELECT {typed} FROM auths_src) t"
    )


def reviewed(extras: list[str], d: Dialect) -> str:
    """Claims for a drug a policy covers, with the version in force on the fill date (and that
    version applying to post-service review)."""
    cols = ", ".join(
        ["c._row", *(f"c.{c}" for c in CLAIM_COLUMNS), *(f"c.{d.q(e)}" for e in extras)]
    )
    policy_limit = (
        "coalesce(s.s_limit_mg, CASE WHEN v.limit_in_mg THEN v.limit_amount / v.limit_per_days "
        "ELSE v.limit_amount * c.strength_mg / v.limit_per_days END)"
    )
    allowance = (
        "CASE WHEN v.allow_in_mg THEN v.allow_amount / v.allow_per_days "
        "ELSE v.allow_amount * c.strength_mg / v.allow_per_days END"
    )
    return f"""
SELECT {cols}, m.drug_key, v.policy_label, v.drug_label, v.limit_text, v.allow_text,
  {policy_limit} AS policy_limit_mg, coalesce(s.s_text, v.limit_text) AS policy_limit_text,
  {allowance} AS allowance_mg,
  c.strength_mg * c.quantity / c.days_supply AS dose_mg
FROM claims_checked c
JOIN drug_map m ON m.drug_name = c.drug_name
JOIN versions v ON v.drug_key = m.drug_key AND c.fill_date >= v.v_start
  AND c.fill_date < v.v_until
LEFT JOIN strength_limits s ON s.drug_key = v.drug_key AND s.v_start = v.v_start
  AND s.s_strength = c.strength_mg
WHERE c._problem = '' AND v.post_service"""


def matched() -> str:
    """Per reviewed claim with any authorization for the member and drug: is one in force, when
    did the last one before the fill end, and the dose limit of those in force (the largest; an
    authorization without its own limit has the policy's)."""
    in_force = "a.a_start <= r.fill_date AND r.fill_date <= a.a_end"
    return f"""
SELECT r._row,
  max(CASE WHEN {in_force} THEN 1 ELSE 0 END) AS in_force,
  max(CASE WHEN a.a_end < r.fill_date THEN a.a_end END) AS last_end,
  min(CASE WHEN a.a_start > r.fill_date THEN a.a_start END) AS next_start,
  max(CASE WHEN {in_force} THEN a.a_max_mg END) AS auth_limit_mg,
  max(CASE WHEN {in_force} AND a.a_max_mg IS NULL THEN 1 ELSE 0 END) AS uses_policy_limit
FROM reviewed r
JOIN (SELECT ac.*, m.drug_key FROM auths_checked ac
      JOIN drug_map m ON m.drug_name = ac.drug_name WHERE ac._problem = '') a
  ON a.member_id = r.member_id AND a.drug_key = r.drug_key
GROUP BY r._row"""


def findings(extras: list[str], d: Dialect) -> str:
    limit = (
        "CASE WHEN coalesce(m.uses_policy_limit, 0) = 1 "
        "THEN greatest(m.auth_limit_mg, r.policy_limit_mg) ELSE m.auth_limit_mg END"
    )
    flagged = f"""
SELECT r.*, m.last_end, m.next_start, m.auth_limit_mg, {limit} AS limit_mg,
  CASE
    WHEN coalesce(m.in_force, 0) = 1 THEN
      CASE WHEN r.dose_mg > ({limit}) * (1 + {TOLERANCE}) THEN 'over_daily_dose' END
    WHEN r.allowance_mg IS NOT NULL AND r.dose_mg <= r.allowance_mg * (1 + {TOLERANCE}) THEN NULL
    WHEN m.last_end IS NOT NULL THEN 'expired_authorization'
    ELSE 'no_authorization'
  END AS finding
FROM reviewed r LEFT JOIN matched m ON m._row = r._row"""
    paid_cents = "CAST(floor(f.paid_amount * 100 + 0.5) AS BIGINT)"
    over_cents = (
        "CAST(floor(f.paid_amount * (f.dose_mg - f.limit_mg) / f.dose_mg * 100 + 0.5) AS BIGINT)"
    )
    dose_text = (
        f"{fmt('f.dose_mg')} || ' mg/day (' || {fmt('f.strength_mg')} || ' mg x ' || "
        f"{fmt('f.quantity')} || ' over ' || {fmt('f.days_supply')} || ' days)'"
    )
    limit_source = (
        "CASE WHEN f.auth_limit_mg IS NOT NULL AND f.auth_limit_mg >= f.limit_mg "
        f"THEN 'the authorization''s ' || {fmt('f.limit_mg')} || ' mg/day' "
        f"ELSE 'the policy''s limit of ' || {fmt('f.limit_mg')} || ' mg/day (' || "
        "f.policy_limit_text || ')' END"
    )
    allowance = "'; pre-PA allowance: ' || coalesce(f.allow_text, 'None')"
    fill = "CAST(f.fill_date AS STRING)"
    detail = f"""CASE f.finding
    WHEN 'no_authorization' THEN 'Filled ' || {fill} || ' with no ' || f.drug_label ||
      ' authorization for the member in force or before' ||
      coalesce('; the next starts ' || CAST(f.next_start AS STRING), '') || {allowance}
    WHEN 'expired_authorization' THEN 'Filled ' || {fill} || ', ' ||
      CAST({d.days_between("f.last_end", "f.fill_date")} AS STRING) ||
      CASE WHEN {d.days_between("f.last_end", "f.fill_date")} = 1 THEN ' day' ELSE ' days' END ||
      ' after the member''s ' || f.drug_label || ' authorization ended on ' ||
      CAST(f.last_end AS STRING) ||
      coalesce('; the next starts ' || CAST(f.next_start AS STRING), '') || {allowance}
    ELSE {dose_text} || ' is above ' || {limit_source} || '; ' ||
      {fmt("(f.dose_mg - f.limit_mg) / f.dose_mg * 100")} || '% of the fill is above it'
  END"""
    extra_cols = "".join(f", f.{d.q(e)}" for e in extras)
    return f"""
SELECT f._row, f.claim_id, f.finding,
  CASE WHEN f.finding = 'over_daily_dose' THEN {over_cents} ELSE {paid_cents} END AS cents,
  f.policy_label AS policy, {detail} AS detail,
  f.member_id, f.fill_date, f.drug_name, f.strength_mg, f.quantity, f.days_supply,
  f.prescriber_npi, f.pharmacy_npi, f.paid_amount{extra_cols}
FROM ({flagged}) f
WHERE f.finding IS NOT NULL"""


def rejects() -> str:
    return """
SELECT 'claims' AS file, _row AS row_number, claim_id, _problem AS problem
FROM claims_checked WHERE _problem <> ''
UNION ALL
SELECT 'authorizations' AS file, _row AS row_number, CAST(NULL AS STRING) AS claim_id,
  _problem AS problem
FROM auths_checked WHERE _problem <> ''"""


def counts() -> str:
    """Rows read and reviewed; the rejected ones are counted from the rejects table. Counting
    the source, not the checked rows, lets a Parquet file answer from its metadata."""
    return """
SELECT (SELECT count(*) FROM claims_src) AS claims_read,
  (SELECT count(*) FROM reviewed) AS claims_reviewed,
  (SELECT count(*) FROM auths_src) AS auths_read"""
