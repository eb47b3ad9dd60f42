"""Turning an outbox row into the exact message to hand over: an e-mail or a webhook body.

Everything comes from the row (its frozen context and the template version it names) and
the workspace secret, so building the same row twice gives the same message: the same
Message-ID, subject, text and links.
"""

from __future__ import annotations

import hashlib
import hmac
import html as htmllib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from polku.nurture import content, mime, tokens


@dataclass(frozen=True)
class Outgoing:
    """A message ready to hand over."""

    message_id: str  # the outbox key
    channel: str  # email or webhook
    recipient: str  # an e-mail address or a URL
    sender: str  # the envelope sender (e-mail)
    data: bytes  # the e-mail (RFC 5322) or the JSON body
    headers: dict[str, str]  # HTTP headers of a webhook
    subject: str | None = None


def header_message_id(message_id: str, secret: str, domain: str) -> str:
    """The Message-ID header: the outbox key plus the workspace's fingerprint, at the sender's domain."""
    return f"<{message_id}.{tokens.fingerprint(secret)}@{domain}>"


def build(row: dict[str, Any], definition: dict[str, Any] | None, secret: str) -> Outgoing:
    """The message of an outbox row; raises jinja2 errors if a template cannot render."""
    ctx = json.loads(row["context"]) if isinstance(row["context"], str) else row["context"]
    if row["channel"] == "webhook":
        return _webhook(row, ctx)
    if definition is None:
        raise LookupError(f"template version {row['content_version']} is not in the workspace")
    return _email(row, ctx, definition, secret)


def _email(row: dict[str, Any], ctx: dict[str, Any], definition: dict[str, Any], secret: str) -> Outgoing:
    mid = row["message_id"]
    sender = ctx.get("sender") or {}
    base = str(ctx.get("tracking_url") or "").rstrip("/")
    marketing = row["purpose"] == "marketing"

    def link(url: str) -> str:
        return f"{base}/t/click/{tokens.make(secret, 'c', mid, str(url))}" if marketing else str(url)

    unsubscribe = f"{base}/t/unsubscribe/{tokens.make(secret, 'u', mid)}" if marketing else None
    rendered = content.render(definition, content.render_context(ctx), link, unsubscribe)
    created: datetime = row["created_at"]
    headers = [
        ("From", mime.address(sender.get("from") or "")),
        ("To", mime.address(row["recipient"])),
        *([("Reply-To", mime.address(sender["reply_to"]))] if sender.get("reply_to") else []),
        ("Subject", mime.encode_words(rendered.subject)),
        ("Date", format_datetime(created)),
        ("Message-ID", header_message_id(mid, secret, sender.get("domain") or "localhost")),
        ("X-Polku-Message", mid),
    ]
    text, body = rendered.text.rstrip() + "\n", rendered.html
    if marketing:
        assert unsubscribe is not None
        headers.append(("List-Unsubscribe", f"<{unsubscribe}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        postal = sender.get("postal_address")
        text += f"\n--\nTo stop receiving these e-mails, unsubscribe: {unsubscribe}\n" + (f"{postal}\n" if postal else "")
        pixel = f"{base}/t/open/{tokens.make(secret, 'o', mid)}"
        body += (
            '\n<p style="font-size:12px;color:#666">To stop receiving these e-mails, '
            f'<a href="{htmllib.escape(unsubscribe)}">unsubscribe</a>.'
            + (f"<br>{htmllib.escape(postal)}" if postal else "")
            + f'</p>\n<img src="{htmllib.escape(pixel)}" width="1" height="1" alt="" style="display:block">'
        )
    html_doc = f"<!doctype html><html><body>\n{body}\n</body></html>\n"
    data = mime.compose(headers, text, html_doc, mid)
    return Outgoing(mid, "email", row["recipient"], _address(sender.get("from") or ""), data, {}, rendered.subject)


def _address(sender: str) -> str:
    from polku.nurture.policy import address_of

    return address_of(sender) if sender else ""


def _webhook(row: dict[str, Any], ctx: dict[str, Any]) -> Outgoing:
    variables = content.render_context(ctx)
    payload = {
        "message_id": row["message_id"],
        "journey": variables["journey"],
        "step": row["step_id"],
        "contact": variables["contact"],
        "account": variables["account"],
        "queued_at": row["created_at"].isoformat(),
    }
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": row["message_id"]}
    key_env = row.get("content_version")  # for webhooks: the variable holding the signing key, if any
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise LookupError(f"the webhook's signing key variable {key_env} is not set")
        headers["X-Polku-Signature"] = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return Outgoing(row["message_id"], "webhook", row["recipient"], "", body, headers)
