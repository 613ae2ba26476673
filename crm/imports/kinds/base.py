"""What one kind of record needs to come in from a sheet: its fields, how a row finds the record it matches, the
checks across rows, and how a row is written. The wizard (crm/imports/service.py, routes.py) does the rest: reading
the file, guessing and saving the column mapping, asking the unit of amount columns, showing every problem, the
matching choices, the batch, its commit in chunks and its undo.

How to add a kind (say, projects) — a module in crm/imports/kinds/, imported in crm/imports/kinds/__init__.py:

    from crm.imports.kinds.base import Entity, Field, ImportKind, Match, register, register_entity, text

    class ProjectKind(ImportKind):
        name = "projects"                                  # the URL's /imports/new?kind=projects, the saved mapping's key
        label = N_("Projects")
        entity_type = "project"                            # as in the audit trail; one Entity registered for it
        fields = (
            Field("name", N_("Project name"), synonyms=("项目名称", "项目"), required=True, parser=text(200)),
            Field("total_investment_wan_cny", N_("Total investment"), synonyms=("计划总投资", "总投资"),
                  parser=values.amount, unit="amount"),   # the header's 万元/亿元 decides; none → the user is asked
        )
        example = {"name": "年产10万吨新材料项目", "total_investment_wan_cny": "50000"}  # the template's example row

        def match(self, session, rows, ctx):              # {row.number: Match} for rows naming an existing record
            ...
        def check(self, session, rows, ctx):              # problems across rows or against the database:
            ctx.problem(row, "name", Msg("…"))           #   by row and field key, in the user's language
        def write(self, session, row, *, match, action, ctx):
            # action is "create" (match is None), "fill" (only empty fields of match) or "update"; "skip" never
            # comes here. Write through the domain's service in the caller's transaction (never commit), then:
            ctx.created("project", project)               # or ctx.updated("project", project, prior={field: old})
            ...

    register(ProjectKind())
    register_entity(Entity("project", Project, label=lambda p: p.name, url=lambda i: f"/projects/{i}",
                           search_kind="project", owned=(ProjectStageChange.project_id,),
                           restore=_restore_project))   # see kinds/organizations.py for restore and after_undo

Values: a parser takes one non-blank cell (str, int, float, bool, date or datetime as the file holds it; the
framework hands blank cells to nobody: they are None, and a required field that is blank is a problem) and the
`ParseContext`, and returns the value to store or raises `ValueProblem(Msg(...))`. `Field.unit="amount"` marks a
money column: `ctx.unit` is then "yuan", "wan" or "yi" (元/万元/亿元, from the header or asked), and the parser
converts to the stored unit. Parsers for dates, amounts, stages, officers and yes/no live in crm/imports/values.py.

Undo is generic (crm/imports/service.py): what a batch created is deleted (with its `owned` child rows and search
index entries), what it updated gets its prior values back — all or nothing, refused with the list when a record
was changed since (its version moved on) or is referenced by a row the batch did not create. An `Entity` says how.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm.i18n import Msg

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm.auth.models import User

ACTIONS = ("skip", "fill", "update")  # what to do with a row that matches an existing record
UNITS = ("yuan", "wan", "yi")  # 元, 万元, 亿元: the unit of an amount column


class ValueProblem(Exception):
    """A cell that cannot be stored; `message` says why, in words the user understands."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


@dataclass
class ParseContext:
    """Handed to every parser and to a kind's match/check/write. `cache` is shared by one pass over the file
    (officer lookups, chains by name), so a 50,000-row file asks the database once per distinct value."""

    session: Session
    actor: User
    locale: str
    today: Any = None  # the zone's local date
    unit: str | None = None  # for an amount field: "yuan" | "wan" | "yi"
    cache: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, row: Row | int, field_key: str | None, message: Msg) -> None:
        number = row.number if isinstance(row, Row) else row
        self.problems.append(Problem(number, field_key, message))


@dataclass
class WriteContext(ParseContext):
    """A kind's write() reports what it wrote here; the batch keeps it for undo and the result page."""

    written: list[Written] = field(default_factory=list)
    row: int | None = None  # the row being written (set by write_many around each write())

    def created(self, entity_type: str, record: Any, *, row: int | None = None) -> None:
        self.written.append(Written(entity_type, record.id, "created", None, getattr(record, "version", None),
                                    row if row is not None else self.row))

    def updated(self, entity_type: str, record: Any, prior: dict[str, Any], *, row: int | None = None) -> None:
        """`prior`: {attribute: value before the import} for each attribute the row changed (JSON-able values)."""
        self.written.append(Written(entity_type, record.id, "updated", prior, getattr(record, "version", None),
                                    row if row is not None else self.row))


@dataclass(frozen=True)
class Written:
    entity_type: str
    record_id: int
    action: str  # "created" | "updated"
    prior: dict[str, Any] | None
    version: int | None  # the record's version after the import: undo refuses when it moved on
    row: int | None = None  # the sheet row that wrote it (counts on the result page)


@dataclass(frozen=True)
class Problem:
    row: int  # the row number in the sheet as the user sees it in Excel
    field_key: str | None  # None: the whole row
    message: Msg


@dataclass
class Row:
    number: int  # the sheet's own row number
    values: dict[str, Any]  # field key → parsed value (None when blank); mapped fields only
    raw: dict[str, Any] = field(default_factory=dict)  # field key → the cell as read, for the preview
    note: Msg | None = None  # shown in the preview ("merged into row 3")
    merged_into: int | None = None  # set by check(): this row names the record of an earlier row, and is written
    #                                 after it with action "create" (write() adds what it brings: a contact)


@dataclass(frozen=True)
class Match:
    record_id: int
    label: str
    url: str
    by: str  # "credit_code" | "name" | …: shown beside the match


def text(max_length: int) -> Callable[[Any, ParseContext], str]:
    """A text cell: stripped, a whole number as written ("12345", not "12345.0"), at most max_length characters."""

    def parse(value: Any, ctx: ParseContext) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        result = str(value).strip()
        if len(result) > max_length:
            raise ValueProblem(Msg("At most %(max)s characters (this has %(n)s).", max=max_length, n=len(result)))
        return result

    return parse


_TEXT_200 = text(200)


@dataclass(frozen=True)
class Field:
    key: str
    label: Msg
    synonyms: tuple[str, ...] = ()  # further headers, Chinese or English (the label's translations always count)
    required: bool = False
    parser: Callable[[Any, ParseContext], Any] = _TEXT_200
    unit: str | None = None  # "amount": a money column whose unit (元/万元/亿元) the header decides or the user picks
    group: str = ""  # fields shown together on the mapping page ("contact" for contacts on an organization's row)
    help: Msg | None = None  # a line under the field on the mapping page (accepted values)


class ImportKind:
    """One kind of record the wizard imports. Subclasses set the class attributes and override the methods."""

    name: str = ""
    label: Msg
    entity_type: str = ""
    fields: tuple[Field, ...] = ()
    example: dict[str, Any] = {}  # field key → the template's example value (imports as it is)

    def allowed(self, user: User) -> bool:
        """Who may import this kind: officers and managers (not the admin-only roles: system, security, audit)."""
        from crm.auth.models import Role

        return user.role in (Role.OFFICER, Role.MANAGER, Role.ADMIN)

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)

    def match(self, session: Session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        return {}

    def check(self, session: Session, rows: list[Row], ctx: ParseContext) -> None:
        """Problems across rows (the same record twice) or against the database (an unknown organization)."""

    def write(self, session: Session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        raise NotImplementedError

    def write_many(self, session: Session, items: list[tuple[Row, Match | None, str]], ctx: WriteContext) -> None:
        """Writes one chunk of rows (row, match, action) in order. The default calls write() for each; a kind with
        large files overrides it to write in bulk through its service's bulk use case (organizations do), passing
        `row=` to ctx.created/updated so each record is counted under its row."""
        for row, match, action in items:
            ctx.row = row.number
            self.write(session, row, match=match, action=action, ctx=ctx)
        ctx.row = None


@dataclass(frozen=True)
class Entity:
    """How undo deletes or restores one type of record a kind writes."""

    entity_type: str
    model: type
    label: Callable[[Any], str]
    url: Callable[[int], str]
    search_kind: str | None = None  # the bigram index entries to delete with the record
    owned: tuple[Any, ...] = ()  # FK columns of child rows that belong to the record and go with it
    # Puts back an updated record's prior values through the domain's service (in the caller's transaction):
    # restore(session, record, prior, actor). None: the attributes are set back and the row flushed.
    restore: Callable[[Session, Any, dict[str, Any], User], None] | None = None
    parent: Any = None  # a column (Contact.organization_id): its values for the undone records go to after_undo
    after_undo: Callable[[Session, list[int]], Any] | None = None  # after_undo(session, parent ids)


KINDS: dict[str, ImportKind] = {}
ENTITIES: dict[str, Entity] = {}


def register(kind: ImportKind) -> ImportKind:
    KINDS[kind.name] = kind
    return kind


def register_entity(entity: Entity) -> Entity:
    ENTITIES[entity.entity_type] = entity
    return entity


def kinds_for(user: User) -> Iterable[ImportKind]:
    return [k for k in KINDS.values() if k.allowed(user)]
