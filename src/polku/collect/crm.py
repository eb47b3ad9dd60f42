"""CRM exports: account and contact CSV files, validated row by row with line numbers.

Account rows become CRM account records; contact rows become identify events on the
``crm`` channel, so they take part in identity resolution like any other identify call.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
from pydantic import ValidationError

from polku.collect.importer import describe
from polku.errors import InvalidInput
from polku.model import Channel, IdentifyIn, utcnow

ACCOUNT_FIELDS: Final[tuple[str, ...]] = ("account_id", "name", "domain", "industry", "employees", "country", "owner")
CONTACT_ID_FIELDS: Final[tuple[str, ...]] = ("crm_id", "email", "account_id", "anonymous_id")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


@dataclass
class Parsed:
    """Good rows of a CRM file and the rejected (line, reason) pairs."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[tuple[int, str]] = field(default_factory=list)


def _read(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if not path.exists():
        raise InvalidInput(f"no such file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise InvalidInput(f"{path.name} is empty: a CSV file needs a header line")
        names = [n.strip() for n in reader.fieldnames]
        reader.fieldnames = names
        rows = []
        for row in reader:
            if None in row:
                raise InvalidInput(f"{path.name}:{reader.line_num}: more values than header columns")
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    return names, rows


def parse_accounts(path: Path) -> Parsed:
    """Account records from a CRM export; account_id is required."""
    names, rows = _read(path)
    if "account_id" not in names:
        raise InvalidInput(f"{path.name}: the account file needs an account_id column")
    out = Parsed()
    seen: dict[str, int] = {}
    for line, row in rows:
        account_id = row.get("account_id", "")
        domain = (row.get("domain") or "").lower().removeprefix("www.") or None
        if not account_id:
            problem: str | None = "account_id: missing"
        elif account_id in seen:
            problem = f"account_id: {account_id!r} already on line {seen[account_id]}"
        else:
            seen[account_id] = line
            problem = _account_problem(row, domain)
        if problem:
            out.rejects.append((line, problem))
            continue
        employees = int(float(row["employees"])) if row.get("employees") else None
        extra = {k: v for k, v in row.items() if k not in ACCOUNT_FIELDS and v}
        out.rows.append(
            {
                "account_id": account_id,
                "name": row.get("name") or None,
                "domain": domain,
                "industry": row.get("industry") or None,
                "employees": employees,
                "country": row.get("country") or None,
                "owner": row.get("owner") or None,
                "traits": json.dumps(extra),
            }
        )
    return out


def _account_problem(row: dict[str, str], domain: str | None) -> str | None:
    """What is wrong with an account row's fields, if anything."""
    if domain and not _DOMAIN.match(domain):
        return f"domain: not a domain name: {domain!r}"
    if row.get("employees"):
        try:
            if float(row["employees"]) < 0:
                raise ValueError
        except ValueError:
            return f"employees: not a whole number ≥ 0: {row['employees']!r}"
    return None


def accounts_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Account rows as the Arrow table the store upserts."""
    schema = pa.schema(
        [(n, pa.int64() if n == "employees" else pa.string()) for n in ACCOUNT_FIELDS] + [("traits", pa.string())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _role(value: str) -> str:
    return re.sub(r"[\s-]+", "_", value.strip().lower())


def parse_contacts(path: Path) -> Parsed:
    """Contacts from a CRM export, as identify events (rows: EventIn-shaped dicts)."""
    names, rows = _read(path)
    if not ({"crm_id", "email"} & set(names)):
        raise InvalidInput(f"{path.name}: the contact file needs a crm_id or an email column")
    out = Parsed()
    now = utcnow()
    for line, row in rows:
        traits = {k: v for k, v in row.items() if k not in CONTACT_ID_FIELDS and k != "updated_at" and v}
        if "name" not in traits and (row.get("first_name") or row.get("last_name")):
            traits["name"] = " ".join(p for p in (row.pop("first_name", ""), row.pop("last_name", "")) if p)
            traits.pop("first_name", None)
            traits.pop("last_name", None)
        for key in ("role", "org_level"):
            if key in traits:
                traits[key] = _role(traits[key])
        try:
            ident = IdentifyIn.model_validate(
                {
                    "ts": row.get("updated_at") or None,
                    "channel": Channel.crm,
                    "anonymous_id": row.get("anonymous_id") or None,
                    "email": row.get("email") or None,
                    "crm_id": row.get("crm_id") or None,
                    "account_id": row.get("account_id") or None,
                    "traits": traits,
                }
            )
        except ValidationError as exc:
            out.rejects.append((line, describe(exc)))
            continue
        digest = hashlib.md5(json.dumps(row, sort_keys=True).encode()).hexdigest()
        event = ident.as_event().model_copy(update={"event_id": f"crm-{digest}"})
        out.rows.append(event.row(now))
    return out
