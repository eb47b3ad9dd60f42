"""Loading and checking a workspace's nurture definitions: journeys/, content/ and nurture.yaml.

Everything is checked before anything runs; all problems are reported together, each
with its file and line (a ConfigError). The checks that span files live here: steps
that jump to steps that exist, no loops, templates that exist, and templates that read
only variables the journey's audience is sure to have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from polku.errors import ConfigError
from polku.nurture.content import ALWAYS, ContentFile, Template, Use, check_template
from polku.nurture.definitions import Journey, Step
from polku.nurture.policy import Policy
from polku.nurture.yamlsrc import Loc, Problem, Source, parse, raise_problems, validate

JOURNEYS_DIR: Final[str] = "journeys"
CONTENT_DIR: Final[str] = "content"
POLICY_FILE: Final[str] = "nurture.yaml"


@dataclass(frozen=True)
class Located:
    """A template with where it was defined."""

    template: Template
    source: Source
    loc: Loc
    uses: tuple[Use, ...]


@dataclass
class Library:
    """The content library: templates in file order, variants grouped by id."""

    items: list[Located] = field(default_factory=list)

    def variants(self, template_id: str) -> list[Located]:
        """Every variant of a template id, in library order."""
        return [i for i in self.items if i.template.id == template_id]

    def ids(self) -> list[str]:
        """Template ids, each once, in library order."""
        return list(dict.fromkeys(i.template.id for i in self.items))

    def find(self, *, stage: str | None = None, role: str | None = None, topic: str | None = None,
             language: str | None = None) -> list[Template]:
        """Templates whose tags match every given value (an untagged field matches anything)."""
        out = []
        for i in self.items:
            t = i.template
            if stage and t.stage is not None and t.stage.value != stage:
                continue
            if role and t.roles is not None and role not in {r.value for r in t.roles}:
                continue
            if topic and t.topic is not None and t.topic != topic:
                continue
            if language and t.language is not None and t.language != language:
                continue
            out.append(t)
        return out


@dataclass
class Definitions:
    """Every journey, the content library and the policy of a workspace, all checked."""

    journeys: dict[str, Journey]
    sources: dict[str, str]
    library: Library
    policy: Policy


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _rel(home: Path, path: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def _read(path: Path, name: str, problems: list[Problem]) -> Source | None:
    try:
        return parse(path.read_text(encoding="utf-8"), name)
    except ConfigError as exc:
        problems.extend(Problem(**d) for d in exc.details)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, "(file)", f"cannot read the file: {exc}"))
    return None


def load_policy(home: Path, problems: list[Problem]) -> Policy:
    """The workspace policy from nurture.yaml, or the defaults."""
    path = home / POLICY_FILE
    if not path.exists():
        return Policy()
    src = _read(path, _rel(home, path), problems)
    if src is None:
        return Policy()
    policy, found = validate(src, Policy, src.data or {})
    problems.extend(found)
    return policy or Policy()


def load_library(home: Path, problems: list[Problem]) -> Library:
    """Every template in content/*.yaml, each checked on its own."""
    library = Library()
    seen: dict[tuple[str, str | None, tuple[str, ...]], str] = {}
    for path in _yaml_files(home / CONTENT_DIR):
        src = _read(path, _rel(home, path), problems)
        if src is None:
            continue
        parsed, found = validate(src, ContentFile, src.data or {})
        problems.extend(found)
        if parsed is None:
            continue
        for i, t in enumerate(parsed.templates):
            loc: Loc = ("templates", i)
            key = (t.id, t.language, tuple(sorted(r.value for r in t.roles or [])))
            if key in seen:
                problems.append(src.problem((*loc, "id"), f"template {t.id!r} with these language and roles tags is already defined in {seen[key]}"))
                continue
            seen[key] = f"{src.name}:{src.line((*loc, 'id'))}"
            uses, issues = check_template(t)
            for issue in issues:
                problems.append(Problem(src.name, _part_line(src, (*loc, issue.part), issue.line), f"templates.{i}.{issue.part}", issue.reason))
            library.items.append(Located(t, src, loc, tuple(uses)))
    return library


def _part_line(src: Source, loc: Loc, line_in_part: int) -> int:
    """The file line of a line inside a template part."""
    start = src.text_start.get(loc)
    return start + line_in_part - 1 if start is not None else src.line(loc)


def load_journeys(home: Path, problems: list[Problem]) -> tuple[list[tuple[Journey, Source]], dict[str, str]]:
    """Every journey file parsed and validated on its own (cross-checks come later)."""
    out: list[tuple[Journey, Source]] = []
    where: dict[str, str] = {}
    for path in _yaml_files(home / JOURNEYS_DIR):
        src = _read(path, _rel(home, path), problems)
        if src is None:
            continue
        journey = parse_journey(src, path.stem, problems)
        if journey is None:
            continue
        if journey.id in where:
            problems.append(src.problem(("id",), f"journey id {journey.id!r} is already used by {where[journey.id]}"))
            continue
        where[journey.id] = src.name
        out.append((journey, src))
    return out, where


def parse_journey(src: Source, default_id: str, problems: list[Problem]) -> Journey | None:
    """Validate one journey document (its id defaults to the file name)."""
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem((), "a journey file holds a mapping (id, trigger, steps, ...)"))
        return None
    if "id" not in data:
        data = {"id": default_id, **data}
    journey, found = validate(src, Journey, data)
    problems.extend(found)
    return journey


def check_journey(journey: Journey, src: Source, library: Library, journey_ids: Iterable[str]) -> list[Problem]:
    """Checks that need the rest of the workspace: jumps, loops, templates and their variables."""
    problems: list[Problem] = []
    ids = [s.id for s in journey.steps]
    position = {s.id: i for i, s in enumerate(journey.steps)}
    for i, step in enumerate(journey.steps):
        if ids.index(step.id) != i:
            problems.append(src.problem(("steps", i, "id"), f"step id {step.id!r} is used twice"))
        for fld, target in step.targets():
            if target not in position:
                problems.append(src.problem(("steps", i, *fld.split(".")), f"no step {target!r} in this journey (steps: {', '.join(ids)})"))
        for cond in step.conditions():
            for named in cond.steps_named():
                if named not in position or journey.steps[position[named]].send is None:
                    problems.append(src.problem(("steps", i, step.kind), f"opened/clicked must name a send step of this journey, not {named!r}"))
                elif position[named] >= i:
                    problems.append(src.problem(("steps", i, step.kind), f"step {named!r} comes after this one; it cannot have been opened yet"))
        if step.enrol is not None and step.enrol not in set(journey_ids):
            problems.append(src.problem(("steps", i, "enrol"), f"no journey {step.enrol!r} (journeys: {', '.join(sorted(journey_ids))})"))
        if step.enrol == journey.id:
            problems.append(src.problem(("steps", i, "enrol"), "a journey cannot enrol contacts in itself"))
        template_id = step.send or (step.notify_owner.template if step.notify_owner else None)
        if template_id is not None:
            problems.extend(_check_content(journey, src, i, step, template_id, library))
    problems.extend(_check_loops(journey, src, position))
    return problems


def _check_content(journey: Journey, src: Source, i: int, step: Step, template_id: str, library: Library) -> list[Problem]:
    """The template exists, and reads nothing unguarded that the audience may lack."""
    variants = library.variants(template_id)
    loc: Loc = ("steps", i, step.kind)
    if not variants:
        known = ", ".join(library.ids()) or "none: add templates under content/"
        return [src.problem(loc, f"no template {template_id!r} in the content library (templates: {known})")]
    required = set(journey.audience.requires)
    problems = []
    for v in variants:
        for use in v.uses:
            ns, _, attr = use.name.partition(".")
            if use.guarded or attr in ALWAYS.get(ns, frozenset()) or use.name in required:
                continue
            at = f"{v.source.name}:{_part_line(v.source, (*v.loc, use.part), use.line)}"
            problems.append(src.problem(
                loc,
                f"template {template_id!r} ({at}) reads {use.name}, which this journey's audience may lack: "
                f"add {use.name} to audience.requires, or write {{{{ {use.name} | default('...') }}}}",
            ))
    return problems


def _check_loops(journey: Journey, src: Source, position: dict[str, int]) -> list[Problem]:
    """Steps form no cycle, so each step runs at most once per enrolment (its send is its idempotency key)."""
    graph = {
        s.id: [t for t in journey.successors(i).values() if t in position] for i, s in enumerate(journey.steps)
    }
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for child in graph[node]:
            cycle = visit(child, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in graph:
        cycle = visit(start, [])
        if cycle:
            where = ("steps", position[cycle[-2]], "id")
            return [src.problem(where, "the steps loop: " + " -> ".join(cycle) + " (a journey's steps may not repeat)")]
    return []


def _survey_problems(home: Path, journeys: list[tuple[Journey, Source]], library: Library) -> list[Problem]:
    """Survey steps name surveys that exist, with templates that show {{ survey_url }} (see polku.cx.surveys)."""
    from polku.cx.surveys.journeys import check_steps

    return check_steps(home, journeys, library)


def load_definitions(home: Path) -> Definitions:
    """Load and check everything; raises one ConfigError listing every problem with file and line."""
    problems: list[Problem] = []
    policy = load_policy(home, problems)
    library = load_library(home, problems)
    parsed, where = load_journeys(home, problems)
    for journey, src in parsed:
        problems.extend(check_journey(journey, src, library, where))
    problems.extend(_survey_problems(home, parsed, library))
    raise_problems(problems, "the nurture definitions")
    return Definitions({j.id: j for j, _ in parsed}, where, library, policy)


def check_new_journey(home: Path, text: str, journey_id: str) -> Journey:
    """Validate a journey sent to the API (as YAML or JSON) against the workspace's other definitions."""
    problems: list[Problem] = []
    name = f"{JOURNEYS_DIR}/{journey_id}.yaml (request body)"
    src = parse(text, name)
    if isinstance(src.data, dict) and src.data.get("id", journey_id) != journey_id:
        problems.append(src.problem(("id",), f"the body's id {src.data.get('id')!r} differs from the address's {journey_id!r}"))
    library = load_library(home, problems)
    existing, where = load_journeys(home, problems)
    journey = parse_journey(src, journey_id, problems)
    if journey is not None:
        problems.extend(check_journey(journey, src, library, {*where, journey.id}))
        problems.extend(_survey_problems(home, [(journey, src)], library))
    raise_problems(problems, "the journey")
    assert journey is not None
    return journey


def definitions_summary(defs: Definitions) -> dict[str, Any]:
    """Counts for `polku nurture validate`."""
    return {
        "journeys": len(defs.journeys),
        "templates": len(defs.library.items),
        "active": sum(1 for j in defs.journeys.values() if j.status == "active"),
    }
