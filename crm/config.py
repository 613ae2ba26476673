"""The one place configuration is read: environment variables prefixed CRM_."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from pydantic import PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ENVIRONMENTS = {"dev", "demo", "test"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=None, extra="ignore")
    # How many times a field was changed in place (the tests do, the app does not): a page kept under the settings
    # it was rendered with (crm/kept_pages.py) is not served after a change.
    _revision: int = PrivateAttr(default=0)

    env: str = "dev"  # dev | demo | test | production
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    port: int = 8000

    zone_name_zh: str = "菏泽经济开发区"
    zone_name_en: str = "Heze Economic Development Zone"
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"

    session_idle_minutes: int = 480
    # However active, a session ends this long after its sign-in (issue 13): CRM_SESSION_MAX_HOURS.
    session_max_hours: int = 12
    session_touch_seconds: int = 60
    # Sign-in throttling (crm/auth/throttle.py): failures counted per account and per client address; after the
    # free ones each try waits first_delay, doubling, never more than max_delay; forgotten after forget_minutes.
    login_free_failures: int = 3  # per account
    login_free_failures_per_address: int = 10  # per client address (offices share one address behind NAT)
    login_first_delay_seconds: int = 5
    login_max_delay_seconds: int = 300
    login_forget_minutes: int = 60
    # Administrators must sign in with a second factor (GB/T 22239 level 3). None: on, except in tests (env test),
    # where the suite's administrators would otherwise have to enrol first; tests of the rule turn it on.
    admin_second_factor: bool | None = None

    page_size: int = 50
    # The list pages and an organization's page asked again by the same reader in the same data generation are
    # answered from what was kept (crm/kept_pages.py, issue 17); CRM_KEPT_PAGES=0 renders every request anew.
    kept_pages: bool = True
    # The largest file a user may attach (photos, documents), in MB; a request body may exceed it by 1 MB of form.
    max_upload_mb: int = 20
    # Threads serving sync routes at once in one worker (anyio's default is 40). On SQLite every request is
    # CPU-bound, and one thread measured best (docs/performance.md); on PostgreSQL threads overlap network waits.
    worker_threads: int | None = None
    db_echo: bool = False
    # How long a save waits for another's lock before it is answered 503 "busy, try again" (crm/db.py).
    db_busy_timeout_ms: int = 3000
    # A write transaction left open where its step ends raises instead of being logged (crm/transactions.py);
    # on in tests.
    strict_transactions: bool | None = None

    # Reminders (crm/notifications, scheduler/). Links in e-mails and webhooks start with base_url.
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""  # empty: e-mail is off (reminders chosen for e-mail fail with a clear error)
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls (implicit, usually port 465) | none
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = ""
    smtp_timeout_seconds: float = 10.0
    webhook_timeout_seconds: float = 5.0
    # Webhooks to loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) or link-local addresses are refused
    # unless the administrator allows them here (an intranet robot, or tests).
    webhook_allow_private: bool = False
    reminder_max_attempts: int = 5  # then the delivery is marked failed and shown on /admin/reminders/outbox
    reminder_retry_seconds: int = 60  # the first retry waits this long, each later one twice as long
    reminder_claim_batch: int = 500  # rows one claim takes (and locks) at a time
    # A claimed e-mail or webhook row is this worker's for this long (renewed before each send); after that another
    # scheduler may take it over. E-mail and webhooks are claimed in batches small enough to be sent within it.
    reminder_lease_seconds: int = 300
    reminder_send_seconds: int = 60  # one delivery pass stops starting e-mails and webhooks after this long
    scheduler_plan_seconds: int = 60  # how often the rules look for what fell due
    scheduler_deliver_seconds: int = 15  # how often due deliveries are claimed and sent

    # Projects (crm/projects). A project whose total investment (万元) is at or above the threshold needs a recorded
    # 三重一大 collective decision before 签约; one with no visit, follow-up or stage change in this many days is stale.
    major_project_threshold_wan_cny: Decimal = Decimal("10000")
    project_stale_days: int = 30

    # Export-leader cultivation (crm/exports): an enterprise whose exports so far this year, as a share of its
    # target, lag the share of the year gone by (序时进度) by more than this many percentage points stands out.
    export_behind_margin_points: Decimal = Decimal("10")

    # The audit trail (crm/audit/chain.py): entries older than this are moved to a file under <data_dir>/archive/audit
    # by the daily audit.archive job (or `crm audit archive`). At least 180 days (the Cybersecurity Law's six months);
    # the default keeps three years in the database, where timelines and the audit page read them.
    audit_retention_days: int = 1095

    # Backups (crm/backups): the scheduled and "back up now" backups are written here (default <data_dir>/backups),
    # each holding the whole database and every file: keep the folder as private as the data directory.
    backup_dir: Path | None = None

    # PDFs (crm/pdf.py): renders run in separate worker processes, each killed and replaced when a render takes
    # longer than the limit; background briefing generation (crm/briefings/generation.py) uses this many threads.
    pdf_render_timeout_seconds: float = 60.0
    pdf_render_workers: int = 1
    # Set by `crm serve` for its workers: when the server started (a worker restarted later leaves its siblings'
    # renders alone, crm/briefings/generation.py). Not a setting to configure.
    served_since: datetime | None = None

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):
            self._revision += 1

    @property
    def revision(self) -> int:
        return self._revision

    @model_validator(mode="after")
    def _check_smtp_security(self) -> Settings:
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise ValueError("CRM_SMTP_SECURITY must be starttls, tls or none")
        return self

    @model_validator(mode="after")
    def _check_audit_retention(self) -> Settings:
        if self.audit_retention_days < 180:
            raise ValueError("CRM_AUDIT_RETENTION_DAYS must be at least 180 (logs are kept no less than six months)")
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env not in DEV_ENVIRONMENTS and len(self.secret_key) < 32:
            raise ValueError(
                "CRM_SECRET_KEY must be set to at least 32 random characters outside dev/demo/test"
            )
        return self

    @model_validator(mode="after")
    def _refuse_admins_without_second_factor(self) -> Settings:
        if self.env not in DEV_ENVIRONMENTS and self.admin_second_factor is False:
            raise ValueError("CRM_ADMIN_SECOND_FACTOR cannot be turned off outside dev/demo/test")
        return self

    @cached_property
    def resolved_admin_second_factor(self) -> bool:
        return self.env != "test" if self.admin_second_factor is None else self.admin_second_factor

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crm.sqlite3').resolve()}"

    @cached_property
    def resolved_backup_dir(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @cached_property
    def resolved_strict_transactions(self) -> bool:
        return self.env == "test" if self.strict_transactions is None else self.strict_transactions

    @cached_property
    def resolved_worker_threads(self) -> int:
        if self.worker_threads:
            return self.worker_threads
        return 1 if self.resolved_database_url.startswith("sqlite") else 8

    @cached_property
    def resolved_secret_key(self) -> str:
        """In dev/demo the key is generated once and kept in the data dir, so sessions survive restarts."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def get_settings() -> Settings:
    return Settings()
