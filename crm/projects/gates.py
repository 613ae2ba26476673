"""The gates a project passes on its way through the pipeline, judged from the project as loaded (its decisions,
approval items and parcel): the 三重一大 collective decision before 签约, land and the construction permit before
开工. The same judgement refuses a move (service.move), colours the readiness board and badges the kanban cards.

Each gate is green (passed), amber (under way: a deferred decision, a parcel still being cleared, a permit
accepted and within its time limit) or red (missing), with the message that says what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from crm.i18n import Msg
from crm.parcels.schemas import STATUS_LABELS as PARCEL_STATUS_LABELS
from crm.projects.models import (
    CONSTRUCTION_PERMIT,
    PIPELINE,
    ApprovalItem,
    ApprovalStatus,
    DecisionOutcome,
    Project,
    Stage,
    pipeline_index,
)
from crm.projects.schemas import APPROVAL_STATUS_LABELS, MEETING_LABELS, STAGE_LABELS

GREEN, AMBER, RED = "green", "amber", "red"
SIGNED_AT = PIPELINE.index(Stage.SIGNED)
LAND_AT = PIPELINE.index(Stage.LAND_SUPPLIED)
GROUNDBREAKING_AT = PIPELINE.index(Stage.GROUNDBREAKING)


class Named(Msg):
    """A record's name kept in two languages (an approval item's), shown in the reader's: a message parameter
    like any other."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh)
        object.__setattr__(self, "en", en)

    def translate(self, locale: str) -> str:
        return self.msgid if locale.startswith("zh") else (self.en or self.msgid)


def item_name(item: ApprovalItem) -> Named:
    return Named(item.name_zh, item.name_en)


@dataclass
class Gate:
    key: str  # "decision", "land", "permit:<code>"
    label: Msg
    colour: str
    message: Msg | None = None  # what is missing (amber or red), or what passed it (green)

    @property
    def passed(self) -> bool:
        return self.colour == GREEN


def money(amount: Decimal | None) -> str:
    return f"{amount:,.2f}" if amount is not None else ""


def needs_decision(project: Project, threshold: Decimal) -> bool:
    """A major project (at or above the threshold), or one whose size nobody has entered yet."""
    return project.total_investment_wan_cny is None or project.total_investment_wan_cny >= threshold


def decision_gate(project: Project, threshold: Decimal) -> Gate:
    label = Msg("Collective decision")
    if project.total_investment_wan_cny is None:
        return Gate("decision", label, RED, Msg(
            "The total investment is not entered, so it is not known whether a collective decision is needed: "
            "enter it first."))
    if project.total_investment_wan_cny < threshold:
        return Gate("decision", label, GREEN, Msg(
            "Not needed: the total investment of %(amount)s (10k CNY) is below the threshold of %(threshold)s.",
            amount=money(project.total_investment_wan_cny), threshold=money(threshold)))
    latest = project.decisions[0] if project.decisions else None  # newest meeting first
    if latest is None:
        return Gate("decision", label, RED, Msg(
            "A collective decision must be recorded first: the total investment of %(amount)s (10k CNY) is at or "
            "above the major-project threshold of %(threshold)s, and no decision is on record.",
            amount=money(project.total_investment_wan_cny), threshold=money(threshold)))
    meeting = Msg(MEETING_LABELS.get(latest.meeting_kind, latest.meeting_kind))
    when = latest.meeting_on.isoformat()
    if latest.outcome == DecisionOutcome.APPROVED:
        return Gate("decision", label, GREEN, Msg("Approved by the %(meeting)s on %(date)s.", meeting=meeting, date=when))
    if latest.outcome == DecisionOutcome.DEFERRED:
        return Gate("decision", label, AMBER, Msg(
            "The %(meeting)s of %(date)s deferred its decision: the project needs an approving decision first.",
            meeting=meeting, date=when))
    return Gate("decision", label, RED, Msg(
        "The %(meeting)s of %(date)s rejected the project: it needs a new, approving decision first.",
        meeting=meeting, date=when))


def land_gate(project: Project) -> Gate:
    label = Msg("Land supplied")
    parcel = project.parcel
    if parcel is not None and parcel.is_supplied:
        return Gate("land", label, GREEN, Msg("Parcel %(parcel)s is supplied.", parcel=parcel.name))
    reached_land = pipeline_index(project.pipeline_stage) >= LAND_AT
    if reached_land and project.land_certificate_no:
        return Gate("land", label, GREEN, Msg("Land certificate %(number)s.", number=project.land_certificate_no))
    if parcel is not None:
        return Gate("land", label, AMBER, Msg(
            "Land is not supplied yet: parcel %(parcel)s is “%(status)s”, not supplied.", parcel=parcel.name,
            status=Msg(PARCEL_STATUS_LABELS.get(parcel.status, parcel.status))))
    if reached_land:
        return Gate("land", label, RED, Msg(
            "Land is not supplied: the project has passed the land-supplied stage but no land certificate number is "
            "recorded."))
    return Gate("land", label, RED, Msg(
        "Land is not supplied: link a parcel marked supplied, or pass the land-supplied stage and record the land "
        "certificate number."))


def working_days(start: date, end: date) -> int:
    """Working days (Monday to Friday) after `start` up to and including `end`. Public holidays and the
    make-up working weekends of the Chinese calendar are not counted as such."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    day = start + timedelta(days=weeks * 7)
    for _ in range(rest):
        day += timedelta(days=1)
        if day.weekday() < 5:
            count += 1
    return count


def clock_start(item: ApprovalItem) -> date | None:
    """The promised time limit runs from acceptance (受理), or from submission when no acceptance is recorded."""
    return item.accepted_on or item.submitted_on


def days_used(item: ApprovalItem, today: date) -> int | None:
    start = clock_start(item)
    if start is None or item.status == ApprovalStatus.NOT_NEEDED:
        return None
    return working_days(start, item.approved_on if item.status == ApprovalStatus.APPROVED and item.approved_on else today)


def is_overdue(item: ApprovalItem, today: date) -> bool:
    used = days_used(item, today)
    return (not item.is_done and item.promised_days is not None and used is not None and used > item.promised_days)


def overdue_from(item: ApprovalItem) -> date | None:
    """The first day `is_overdue` holds for an item still running against its time limit: the working day after
    the promised ones are used up. None when it is done, has no limit or has not started. Stored on the item
    (`overdue_on`) so the permit-overdue reminder finds due items through an index instead of reading them all."""
    start = clock_start(item)
    if item.is_done or item.promised_days is None or start is None:
        return None
    day, left = start, item.promised_days + 1
    weeks = (left - 1) // 5  # whole weeks first: any seven days in a row hold five working days
    day += timedelta(days=7 * weeks)
    left -= 5 * weeks
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def permit_gate(project: Project, item: ApprovalItem, today: date) -> Gate:
    name = item_name(item)
    label = Msg("Permit: %(name)s", name=name)
    status = Msg(APPROVAL_STATUS_LABELS.get(item.status, item.status))
    if item.is_done:
        return Gate(f"permit:{item.code}", label, GREEN, status)
    used = days_used(item, today)
    if item.status in (ApprovalStatus.SUBMITTED, ApprovalStatus.ACCEPTED) and not is_overdue(item, today):
        if used is not None and item.promised_days:
            return Gate(f"permit:{item.code}", label, AMBER, Msg(
                "%(name)s: %(status)s, %(used)s of %(days)s working days used.", name=name, status=status,
                used=used, days=item.promised_days))
        return Gate(f"permit:{item.code}", label, AMBER, Msg("%(name)s: %(status)s.", name=name, status=status))
    if is_overdue(item, today):
        return Gate(f"permit:{item.code}", label, RED, Msg(
            "%(name)s is overdue: %(used)s working days used of the %(days)s promised.", name=name,
            used=used, days=item.promised_days))
    return Gate(f"permit:{item.code}", label, RED, Msg("%(name)s: not started.", name=name))


def construction_permit(project: Project) -> ApprovalItem | None:
    return next((item for item in project.approvals if item.code == CONSTRUCTION_PERMIT), None)


def construction_gate(project: Project, today: date) -> Gate:
    item = construction_permit(project)
    if item is None:
        return Gate("permit:" + CONSTRUCTION_PERMIT, Msg("Construction permit"), RED, Msg(
            "The project's permit checklist has no construction permit item."))
    gate = permit_gate(project, item, today)
    if not gate.passed:
        gate.message = Msg("The construction permit is not approved: %(detail)s", detail=gate.message)
    return gate


@dataclass
class Readiness:
    """Every gate of a project on the way to groundbreaking, for the readiness board."""

    decision: Gate
    land: Gate
    permits: list[Gate] = field(default_factory=list)

    @property
    def gates(self) -> list[Gate]:
        return [self.decision, self.land, *self.permits]

    @property
    def red_reasons(self) -> list[Msg]:
        """What each red gate says (or its name), to be joined once: `|join_reasons` (crm.i18n.join_clauses)."""
        return [gate.message or gate.label for gate in self.gates if gate.colour == RED]

    @property
    def colour(self) -> str:
        colours = {gate.colour for gate in self.gates}
        return RED if RED in colours else (AMBER if AMBER in colours else GREEN)

    @property
    def completion(self) -> tuple[int, int]:
        return sum(1 for gate in self.permits if gate.passed), len(self.permits)


def readiness(project: Project, *, threshold: Decimal, today: date) -> Readiness:
    return Readiness(decision=decision_gate(project, threshold), land=land_gate(project),
                     permits=[permit_gate(project, item, today) for item in project.approvals])


def refusals(project: Project, to_stage: str, *, threshold: Decimal, today: date,
             override: bool = False) -> list[Msg]:
    """What stops a move into `to_stage`, in words for the user: nothing when it may go. Judged from the furthest
    pipeline stage the project stands at, so a jump past a gate (洽谈 → 投产) or a return from 暂缓 is checked
    like a step into it. `override` (a manager's, with a reason) lifts the groundbreaking gate only."""
    target = pipeline_index(to_stage)
    if target < 0:
        return []
    current = pipeline_index(project.pipeline_stage)
    reasons: list[Msg] = []
    # The decision gate is judged on every move into or past 签约, not only on the step into it: a project that
    # stands past it without meeting it (its investment raised since, an older record) goes no further.
    if target >= SIGNED_AT and (current < SIGNED_AT or target > current):
        gate = decision_gate(project, threshold)
        if not gate.passed and gate.message:
            reasons.append(gate.message)
    if target >= GROUNDBREAKING_AT > current and not override:
        for gate in (land_gate(project), construction_gate(project, today)):
            if not gate.passed and gate.message:
                reasons.append(gate.message)
    return reasons


def held(project: Project, *, threshold: Decimal, today: date) -> list[Gate]:
    """The gates a project has passed by standing where it stands (judged from `pipeline_stage`): the collective
    decision from 签约 on; land and the construction permit from 开工 on, unless a manager overrode them there."""
    current = pipeline_index(project.pipeline_stage)
    found: list[Gate] = []
    if current >= SIGNED_AT:
        found.append(decision_gate(project, threshold))
    if current >= GROUNDBREAKING_AT and not project.gate_override_reason:
        found += [land_gate(project), construction_gate(project, today)]
    return found


def lapsed(project: Project, *, threshold: Decimal, today: date) -> list[Gate]:
    """The gates behind a project that it no longer meets (a 2 亿元 project at 签约 with no approving decision,
    its investment raised after the move; or an older record): what the board, the readiness board and the
    dashboard flag. A project on hold or dropped is not flagged (it is going nowhere)."""
    if project.stage not in PIPELINE:
        return []
    return [gate for gate in held(project, threshold=threshold, today=today) if not gate.passed]


def lapsed_by_edit(before: dict[str, Gate], project: Project, *, threshold: Decimal, today: date) -> list[Gate]:
    """The gates an edit makes the project stop meeting: those it met before (`before`, from `held()` keyed by
    gate) and fails now. A gate it already failed before the edit (older data) does not stop other changes."""
    return [gate for gate in held(project, threshold=threshold, today=today)
            if not gate.passed and gate.key in before and before[gate.key].passed]


def next_gate_missing(project: Project, *, threshold: Decimal, today: date) -> bool:
    """The kanban's "gate missing" badge: the next gated stage ahead (签约, or 开工) would refuse the project now."""
    current = pipeline_index(project.pipeline_stage)
    if project.stage not in PIPELINE or current >= GROUNDBREAKING_AT:
        return False
    if current < SIGNED_AT:
        return current >= PIPELINE.index(Stage.CONTACT) and not decision_gate(project, threshold).passed
    return bool(refusals(project, Stage.GROUNDBREAKING, threshold=threshold, today=today))


def stage_label(stage: str) -> Msg:
    return Msg(STAGE_LABELS.get(stage, stage))
