"""Every model, imported in one place for Alembic and metadata.create_all."""

from crm.api.models import ApiIdempotencyKey, ApiRequestCount, ApiToken
from crm.assessment.models import DepartmentTarget, OfficerTarget
from crm.attachments.models import Attachment
from crm.audit.models import AuditEntry
from crm.auth.models import LoginThrottle, PasswordPolicy, User, WebSession
from crm.backups.models import BackupRun, BackupSetting
from crm.briefings.models import BriefingFile, BriefingNote
from crm.contacts.models import Contact
from crm.db import Base
from crm.exports.models import ExportEnterprise, ExportFigure, ExportSupport, ExportTarget
from crm.feeds.models import FeedToken
from crm.generation import DataGeneration
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.imports.models import ImportBatch, ImportMapping, ImportRecord
from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
from crm.major_projects.models import (
    CoordinationItem,
    CoordinationLog,
    InvestmentPlan,
    MajorProject,
    MeetingAttendee,
    MeetingDecision,
    MonthlyReport,
    ReportRevision,
    ResponsibleDepartment,
    SchedulingMeeting,
    SchedulingSetting,
)
from crm.notifications.models import Notification, NotificationSetting, Outbox, RulePreference, RuleSetting
from crm.organizations.models import IndustryChain, Organization, OrganizationTag, Tag
from crm.parcels.models import LandParcel
from crm.projects.models import (
    ApprovalItem,
    ApprovalTemplate,
    Decision,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    ProjectVisit,
    StageChange,
)
from crm.scheduling.models import SchedulerJob
from crm.search.models import SearchTerm
from crm.submissions.models import FormSubmission
from crm.tasks.models import Task
from crm.visits.models import TourStop, Visit, VisitHost, VisitIndustry, VisitMember, VisitOrganization
from crm.webhooks.models import (
    WebhookCursor,
    WebhookDelivery,
    WebhookEvent,
    WebhookReadiness,
    WebhookSubscription,
)

__all__ = [
    "ApiIdempotencyKey",
    "ApiRequestCount",
    "ApiToken",
    "ApprovalItem",
    "ApprovalTemplate",
    "Attachment",
    "AuditEntry",
    "BackupRun",
    "BackupSetting",
    "Base",
    "BriefingFile",
    "BriefingNote",
    "Contact",
    "CoordinationItem",
    "CoordinationLog",
    "DataGeneration",
    "Decision",
    "DepartmentTarget",
    "ExportEnterprise",
    "ExportFigure",
    "ExportSupport",
    "ExportTarget",
    "FeedToken",
    "FormSubmission",
    "GroundbreakingEvent",
    "ImportBatch",
    "ImportMapping",
    "ImportRecord",
    "Indicator",
    "IndicatorTarget",
    "IndicatorValue",
    "IndustryChain",
    "InvestmentPlan",
    "LandParcel",
    "LoginThrottle",
    "MajorProject",
    "MeetingAttendee",
    "MeetingDecision",
    "MonthlyReport",
    "Notification",
    "NotificationSetting",
    "OfficerTarget",
    "Organization",
    "OrganizationTag",
    "Outbox",
    "PasswordPolicy",
    "Project",
    "ProjectOfficer",
    "ProjectOrganization",
    "ProjectVisit",
    "ReportRevision",
    "ResponsibleDepartment",
    "RulePreference",
    "RuleSetting",
    "SchedulerJob",
    "SchedulingMeeting",
    "SchedulingSetting",
    "SearchTerm",
    "SlatedProject",
    "StageChange",
    "Tag",
    "Task",
    "TourStop",
    "User",
    "Visit",
    "VisitHost",
    "VisitIndustry",
    "VisitMember",
    "VisitOrganization",
    "WebSession",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookReadiness",
    "WebhookSubscription",
]
