"""The content library: Jinja2 templates (subject, text, optional HTML) tagged by stage, role, topic and language.

Templates render with ``StrictUndefined`` in a sandbox, so a variable that is not there
is an error, never a blank in a customer's inbox. ``check_template`` finds every variable
a template reads (and whether it is guarded by ``| default(...)`` or ``is defined``), so
the loader can refuse, at validation time, a template that reads a trait the journey's
audience may lack.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator

from polku.model import JourneyStage, Role
from polku.nurture.definitions import check_id

PARTS: Final[tuple[str, ...]] = ("subject", "text", "html")
GLOBALS: Final[frozenset[str]] = frozenset({"contact", "account", "journey", "link", "unsubscribe_url", "survey_url"})
ALWAYS: Final[dict[str, frozenset[str]]] = {
    "contact": frozenset({"email", "contact_id", "stage"}),
    "account": frozenset(),
    "journey": frozenset({"id", "name"}),
}
KNOWN: Final[dict[str, frozenset[str]]] = {
    "contact": ALWAYS["contact"] | {"name", "title", "phone", "role", "org_level", "language", "timezone", "crm_id"},
    "account": frozenset({"account_id", "name", "domain", "industry", "employees", "country", "owner"}),
    "journey": ALWAYS["journey"],
}
_VARIABLE = re.compile(r"^(contact|account)\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
_URL = re.compile(r"https?://[^\s<>\"']+")


class Template(BaseModel):
    """One content item: an id (variants share it), its tags, and the texts to render."""

    model_config = ConfigDict(extra="forbid")

    id: str
    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)
    html: str | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    stage: JourneyStage | None = None
    roles: list[Role] | None = None
    topic: str | None = None
    variables: list[str] = Field(default_factory=list, description="custom traits read, as contact.x or account.y")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v, "template id")

    @field_validator("variables")
    @classmethod
    def _vars(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if not _VARIABLE.match(x)]
        if bad:
            raise ValueError(f"variables are written contact.<trait> or account.<trait>, got {bad}")
        return v

    @property
    def version(self) -> str:
        """A fingerprint of the content: an outbox row names the exact version it renders."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def tags(self) -> dict[str, Any]:
        """The template's tags."""
        return {"stage": self.stage, "roles": self.roles, "topic": self.topic, "language": self.language}


class ContentFile(BaseModel):
    """A file of the content library: a list of templates."""

    model_config = ConfigDict(extra="forbid")

    templates: list[Template] = Field(min_length=1)


@dataclass(frozen=True)
class Use:
    """One read of a variable by a template: namespace.attribute, the part and line, and whether guarded."""

    name: str
    part: str
    line: int
    guarded: bool


@dataclass(frozen=True)
class TemplateIssue:
    """A problem in one part of a template, at a line of that part."""

    part: str
    line: int
    reason: str


def _env(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)


ENV_TEXT: Final = _env(False)
ENV_HTML: Final = _env(True)


def _env_of(part: str) -> SandboxedEnvironment:
    return ENV_HTML if part == "html" else ENV_TEXT


def _guarded_by(test: nodes.Node) -> set[str]:
    """Variables an `if` test proves defined: `x is defined`, and `and` of such tests.

    A bare `{% if contact.name %}` proves nothing: with StrictUndefined it raises.
    """
    if isinstance(test, nodes.And):
        return _guarded_by(test.left) | _guarded_by(test.right)
    if isinstance(test, nodes.Test) and test.name == "defined":
        name = _var_name(test.node)
        return {name} if name else set()
    return set()


def _var_name(node: nodes.Node) -> str | None:
    """`contact.name` for contact.name or contact['name'], else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return f"{node.node.name}.{node.attr}"
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return f"{node.node.name}.{node.arg.value}"
    return None


def _uses(node: nodes.Node, part: str, guarded: frozenset[str], out: list[Use]) -> None:
    """Collect variable reads under ``node``; ``guarded`` are proven defined by enclosing ifs."""
    if isinstance(node, nodes.If):
        inner = guarded | _guarded_by(node.test)
        _uses(node.test, part, guarded | _guarded_by(node.test), out)
        for child in node.body:
            _uses(child, part, inner, out)
        for child in node.elif_:
            _uses(child, part, guarded, out)
        for child in node.else_:
            _uses(child, part, guarded, out)
        return
    if isinstance(node, nodes.Filter) and node.name in ("default", "d") and node.node is not None:
        name = _var_name(node.node)
        if name:
            out.append(Use(name, part, node.lineno, True))
            for arg in node.args:
                _uses(arg, part, guarded, out)
            return
    if isinstance(node, nodes.Test) and node.name in ("defined", "undefined"):
        name = _var_name(node.node)
        if name:
            out.append(Use(name, part, node.lineno, True))
            return
    name = _var_name(node)
    if name:
        out.append(Use(name, part, node.lineno, name in guarded))
        return
    for child in node.iter_child_nodes():
        _uses(child, part, guarded, out)


def check_template(t: Template) -> tuple[list[Use], list[TemplateIssue]]:
    """Parse every part; return the variables read and the problems (syntax, unknown names, failed trial render)."""
    uses: list[Use] = []
    issues: list[TemplateIssue] = []
    declared: dict[str, set[str]] = {ns: set(KNOWN[ns]) for ns in KNOWN}
    for v in t.variables:
        ns, _, attr = v.partition(".")
        declared[ns].add(attr)
    for part in PARTS:
        source = getattr(t, part)
        if source is None:
            continue
        try:
            tree = _env_of(part).parse(source)
        except TemplateSyntaxError as exc:
            issues.append(TemplateIssue(part, exc.lineno or 1, f"template syntax error: {exc.message}"))
            continue
        for name in sorted(meta.find_undeclared_variables(tree) - GLOBALS):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 1)
            issues.append(TemplateIssue(
                part, line, f"unknown variable {name!r}; templates can read {', '.join(sorted(GLOBALS))}"
            ))
        found: list[Use] = []
        _uses(tree, part, frozenset(), found)
        for use in found:
            ns, _, attr = use.name.partition(".")
            if ns in declared and attr not in declared[ns]:
                issues.append(TemplateIssue(
                    part, use.line,
                    f"unknown variable {use.name}; known are {', '.join(sorted(f'{ns}.{a}' for a in declared[ns]))} "
                    f"(declare a custom trait under variables: [{use.name}])",
                ))
        uses.extend(u for u in found if u.name.partition(".")[0] in declared)
    if not issues:
        issues.extend(_trial_render(t, declared))
    return uses, issues


def _sample(declared: dict[str, set[str]]) -> dict[str, Any]:
    ctx: dict[str, Any] = {ns: {a: f"<{ns}.{a}>" for a in attrs} for ns, attrs in declared.items()}
    ctx["account"]["employees"] = 100
    ctx["link"] = lambda url, *_: str(url)
    ctx["unsubscribe_url"] = "https://example.invalid/unsubscribe"
    ctx["survey_url"] = "https://example.invalid/s/survey"
    return ctx


def _trial_render(t: Template, declared: dict[str, set[str]]) -> list[TemplateIssue]:
    """Render with a sample value for every known variable, to catch errors no parse can see."""
    issues = []
    ctx = _sample(declared)
    for part in PARTS:
        source = getattr(t, part)
        if source is None:
            continue
        try:
            _env_of(part).from_string(source).render(ctx)
        except TemplateError as exc:
            issues.append(TemplateIssue(part, _template_line(exc), f"the template fails to render: {exc}"))
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            issues.append(TemplateIssue(part, _template_line(exc), f"the template fails to render: {exc!r}"))
    return issues


def _template_line(exc: BaseException) -> int:
    """The template line an exception was raised at (Jinja rewrites tracebacks to template lines)."""
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    tb = exc.__traceback__
    found = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


# ---- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A rendered message: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


@lru_cache(maxsize=512)
def _compiled(version: str, part: str, source: str) -> Any:
    return _env_of(part).from_string(source)


def render_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """The template variables from an outbox row's frozen context (missing values stay missing)."""
    contact = {k: v for k, v in (ctx.get("traits") or {}).items() if v is not None and not k.startswith("_")}
    contact.update({k: v for k, v in (ctx.get("contact") or {}).items() if v is not None})
    account = {k: v for k, v in ((ctx.get("traits") or {}).get("_account") or {}).items() if v is not None}
    account.update({k: v for k, v in (ctx.get("account_traits") or {}).items() if v is not None})
    account.update({k: v for k, v in (ctx.get("account") or {}).items() if v is not None})
    survey = {"survey_url": ctx["survey_url"]} if ctx.get("survey_url") else {}  # set by a survey step (polku.cx.surveys)
    return {"contact": contact, "account": account, "journey": ctx.get("journey") or {}, **survey}


def render(
    definition: dict[str, Any], variables: dict[str, Any], link: Callable[[str], str], unsubscribe_url: str | None
) -> Rendered:
    """Render a stored template version; raises jinja2's errors when a variable is missing."""
    t = Template.model_validate(definition)
    ctx = {**variables, "link": link, "unsubscribe_url": unsubscribe_url or ""}
    subject = _compiled(t.version, "subject", t.subject).render(ctx).strip()
    text = _compiled(t.version, "text", t.text).render(ctx)
    html = _compiled(t.version, "html", t.html).render(ctx) if t.html else text_to_html(text)
    return Rendered(" ".join(subject.split()), text, html)


def text_to_html(text: str) -> str:
    """A plain HTML version of a text body: paragraphs, line breaks and links."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for p in paragraphs:
        escaped = htmllib.escape(p, quote=False)
        linked = _URL.sub(lambda m: f'<a href="{htmllib.escape(m.group(0))}">{m.group(0)}</a>', escaped)
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def canonical(t: Template) -> str:
    """The stored JSON of a template version."""
    return json.dumps(t.model_dump(mode="json"), sort_keys=True)

