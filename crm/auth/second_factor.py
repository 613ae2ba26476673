"""Two-factor sign-in: a TOTP app (RFC 6238) with one-time recovery codes.

The secret lives in `second_factor`, never in `user_account`, so it is never loaded with the signed-in user; it is
shown (as text and as a QR code) only until the user confirms the set-up with a code. A code is accepted from the
time step before, of, or after now, and never from a step at or before the last one used (no replay). Recovery codes
are stored as SHA-256 digests and each works once.

Sign-in with a second factor takes two steps: after the right password no session is made; a challenge (a random
token in a cookie, its digest in `sign_in_challenge`) waits `CHALLENGE_MINUTES` for the code, allows
`MAX_CODE_ATTEMPTS` wrong codes, and counts each in the sign-in throttle like a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm.audit import service as audit_service
from crm.audit.models import AuditOutcome
from crm.auth import service as auth_service
from crm.auth import throttle
from crm.auth.models import RecoveryCode, SecondFactor, SignInChallenge, User
from crm.auth.security import new_token, token_digest, verify_password
from crm.config import Settings
from crm.db import utcnow
from crm.i18n import Msg

CHALLENGE_MINUTES = 5
MAX_CODE_ATTEMPTS = 5
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LENGTH = 12  # about 59 bits each

WRONG_CODE = Msg("That code is not right. Enter the current code from your authenticator app, or a recovery code.")


class SecondFactorError(Exception):
    def __init__(self, field: str, message: Msg, *, restart: bool = False) -> None:
        super().__init__(message.msgid)
        self.field = field
        self.message = message
        self.restart = restart  # the sign-in must start again from the password


def _label(user: User) -> str:
    return f"{user.display_name} ({user.username})"


def _event(session: Session, event: str, *, user: User, actor: User | None, address: str,
           outcome: AuditOutcome = AuditOutcome.SUCCESS, details: dict | None = None) -> None:
    audit_service.record_event(session, event=event, actor=actor, outcome=outcome, client_address=address,
                               entity_type="user", entity_id=user.id, entity_label=_label(user), details=details)


# TOTP

def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _matching_step(secret: str, code: str, *, last_used_step: int | None, now: datetime) -> int | None:
    """The time step (now ±1) whose code this is, unless that step was already used."""
    code = _normalise(code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    for candidate in (step - 1, step, step + 1):
        if last_used_step is not None and candidate <= last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI, drawn here (no image service sees the secret)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def grouped_secret(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# Recovery codes

def _recovery_hash(code: str) -> str:
    return hashlib.sha256(f"recovery:{_normalise(code)}".encode()).hexdigest()


def _new_recovery_codes(session: Session, *, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
        session.add(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(raw)))
    return codes


def _use_recovery_code(session: Session, *, user_id: int, code: str) -> bool:
    if len(_normalise(code)) != _RECOVERY_LENGTH:
        return False
    row = session.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.code_hash == _recovery_hash(code), RecoveryCode.used_at.is_(None),
    ).with_for_update())
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def recovery_codes_left(session: Session, *, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def _check_code(session: Session, *, factor: SecondFactor, code: str) -> str | None:
    """'totp' or 'recovery_code' when the code is right (and marks it used), else None."""
    step = _matching_step(factor.secret, code, last_used_step=factor.last_used_step, now=utcnow())
    if step is not None:
        factor.last_used_step = step
        return "totp"
    if _use_recovery_code(session, user_id=factor.user_id, code=code):
        return "recovery_code"
    return None


def _factor(session: Session, user_id: int) -> SecondFactor | None:
    return session.scalar(select(SecondFactor).where(SecondFactor.user_id == user_id).with_for_update()
                          .execution_options(populate_existing=True))


# Set-up, recovery codes, disabling (the user's own page)

@dataclass
class Status:
    enrolled_at: datetime | None
    pending_secret: str | None  # only while the set-up is unconfirmed
    recovery_codes_left: int


def status(session: Session, *, user_id: int) -> Status:
    user = session.get(User, user_id)
    factor = session.get(SecondFactor, user_id)
    if user is not None and user.second_factor_at is not None:
        return Status(enrolled_at=user.second_factor_at, pending_secret=None,
                      recovery_codes_left=recovery_codes_left(session, user_id=user_id))
    return Status(enrolled_at=None, pending_secret=factor.secret if factor is not None else None, recovery_codes_left=0)


def begin_enrolment(session: Session, *, user_id: int) -> None:
    """A new secret waiting for confirmation (an unconfirmed one is kept, so the QR code scanned stays valid)."""
    user = session.get(User, user_id)
    if user is None or user.second_factor_at is not None or session.get(SecondFactor, user_id) is not None:
        return
    session.add(SecondFactor(user_id=user_id, secret=pyotp.random_base32()))
    session.commit()


def confirm_enrolment(session: Session, *, user_id: int, code: str, client_address: str) -> list[str]:
    """Checks the first code against the new secret; returns the recovery codes (shown once)."""
    user = session.get(User, user_id)
    factor = _factor(session, user_id)
    if user is None or factor is None or user.second_factor_at is not None:
        raise SecondFactorError("code", Msg("Start the set-up again."))
    step = _matching_step(factor.secret, code, last_used_step=None, now=utcnow())
    if step is None:
        raise SecondFactorError("code", WRONG_CODE)
    now = utcnow()
    factor.confirmed_at = now
    factor.last_used_step = step
    user.second_factor_at = now
    codes = _new_recovery_codes(session, user_id=user_id)
    _event(session, "second_factor_enrolled", user=user, actor=user, address=client_address)
    session.commit()
    return codes


def cancel_enrolment(session: Session, *, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is not None and user.second_factor_at is None:
        session.execute(delete(SecondFactor).where(SecondFactor.user_id == user_id))
        session.commit()


def _refuse_while_throttled(session: Session, user: User, *, address: str, settings: Settings) -> None:
    if wait := throttle.check(session, username=user.username, address=address, settings=settings):
        session.commit()
        raise SecondFactorError("password", auth_service.wait_message(wait))


def _failed(session: Session, user: User, *, field: str, address: str, settings: Settings, doing: str) -> None:
    """A wrong password or code on the account page counts in the sign-in throttle like one at sign-in."""
    session.rollback()
    wait = throttle.record_failure(session, username=user.username, address=address, settings=settings)
    _event(session, "second_factor_failed" if field == "code" else "password_check_failed", user=user, actor=user,
           address=address, outcome=AuditOutcome.FAILURE, details={"while": doing})
    session.commit()
    message = WRONG_CODE if field == "code" else Msg("The password is not right.")
    raise SecondFactorError(field, auth_service.wait_message(wait) if wait else message)


def regenerate_recovery_codes(session: Session, *, user_id: int, password: str, client_address: str,
                              settings: Settings) -> list[str]:
    user = session.get(User, user_id)
    if user is None or user.second_factor_at is None:
        raise SecondFactorError("password", Msg("Set up a second factor first."))
    _refuse_while_throttled(session, user, address=client_address, settings=settings)
    if not verify_password(user.password_hash, password):
        _failed(session, user, field="password", address=client_address, settings=settings, doing="recovery_codes")
    codes = _new_recovery_codes(session, user_id=user_id)
    _event(session, "recovery_codes_regenerated", user=user, actor=user, address=client_address)
    session.commit()
    return codes


def _remove(session: Session, user: User) -> None:
    session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(SignInChallenge).where(SignInChallenge.user_id == user.id))
    user.second_factor_at = None


def disable(session: Session, *, user_id: int, password: str, code: str, client_address: str,
            settings: Settings) -> None:
    """Turns the second factor off: the password and a current code (or a recovery code) are asked for."""
    user = session.get(User, user_id)
    factor = _factor(session, user_id)
    if user is None or factor is None or user.second_factor_at is None:
        raise SecondFactorError("code", Msg("Set up a second factor first."))
    _refuse_while_throttled(session, user, address=client_address, settings=settings)
    if not verify_password(user.password_hash, password):
        _failed(session, user, field="password", address=client_address, settings=settings, doing="disable")
    if _check_code(session, factor=factor, code=code) is None:
        _failed(session, user, field="code", address=client_address, settings=settings, doing="disable")
    _remove(session, user)
    _event(session, "second_factor_disabled", user=user, actor=user, address=client_address)
    session.commit()


def reset(session: Session, *, user: User, actor: User | None, client_address: str = "", channel: str = "web") -> None:
    """The security administrator removes a user's second factor (a lost phone): the user sets up a new one.
    Without an actor: the server's operator, `crm user reset-second-factor` (the last security administrator's)."""
    if actor is not None and user.id == actor.id:
        raise SecondFactorError("user", Msg("You cannot reset your own second factor; turn it off on your account page."))
    _remove(session, user)
    audit_service.record_event(session, event="second_factor_reset", actor=actor, client_address=client_address,
                               channel=channel, entity_type="user", entity_id=user.id, entity_label=_label(user))
    session.commit()


@dataclass
class UserFactor:
    user: User
    recovery_codes_left: int


def users_with_status(session: Session) -> list[UserFactor]:
    left = dict(session.execute(select(RecoveryCode.user_id, func.count()).where(RecoveryCode.used_at.is_(None))
                                .group_by(RecoveryCode.user_id)).all())
    users = session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.role, User.username))
    return [UserFactor(user=u, recovery_codes_left=left.get(u.id, 0)) for u in users]


# Signing in

def sign_in(session: Session, *, user: User, user_agent: str, client_address: str, details: dict | None = None) -> str:
    """The sign-in is complete (password, and the second factor when set up): the account's throttle is cleared,
    the event recorded and the session made. Returns the cookie's token."""
    throttle.clear_account(session, username=user.username)
    audit_service.record_event(session, event="sign_in", actor=user, client_address=client_address,
                               entity_type="user", entity_id=user.id, entity_label=_label(user), details=details)
    return auth_service.start_session(session, user=user, user_agent=user_agent, client_address=client_address)


def start_challenge(session: Session, *, user: User, next_url: str) -> str:
    """After the right password of a user with a second factor; returns the token for the browser's cookie."""
    now = utcnow()
    session.execute(delete(SignInChallenge).where(SignInChallenge.expires_at < now))
    token = new_token()
    session.add(SignInChallenge(id=token_digest(token), user_id=user.id, next_url=next_url[:500],
                                expires_at=now + timedelta(minutes=CHALLENGE_MINUTES)))
    session.commit()
    return token


def pending_challenge(session: Session, *, token: str) -> SignInChallenge | None:
    if not token or len(token) > 100:
        return None
    challenge = session.get(SignInChallenge, token_digest(token))
    return challenge if challenge is not None and challenge.expires_at > utcnow() else None


@dataclass
class SignedIn:
    token: str
    next_url: str


def complete_challenge(session: Session, *, token: str, code: str, user_agent: str, client_address: str,
                       settings: Settings) -> SignedIn:
    """The second step of signing in. Raises SecondFactorError (restart=True when the password must be entered
    again: the challenge expired or ran out of attempts)."""
    challenge = pending_challenge(session, token=token)
    if challenge is None:
        raise SecondFactorError("code", Msg("This sign-in has expired. Enter your password again."), restart=True)
    user = session.get(User, challenge.user_id)
    factor = _factor(session, challenge.user_id)
    if user is None or not user.is_active or factor is None or user.second_factor_at is None:
        session.delete(challenge)
        session.commit()
        raise SecondFactorError("code", Msg("This sign-in has expired. Enter your password again."), restart=True)
    if wait := throttle.check(session, username=user.username, address=client_address, settings=settings):
        audit_service.record_event(session, event="sign_in_throttled", actor=None, outcome=AuditOutcome.REFUSED,
                                   client_address=client_address, entity_type="user", entity_id=user.id,
                                   entity_label=_label(user), details={"username": user.username, "step": "code",
                                                                       "wait_seconds": wait})
        session.commit()
        raise SecondFactorError("code", auth_service.wait_message(wait))
    method = _check_code(session, factor=factor, code=code)
    if method is None:
        challenge.attempts += 1
        wait = throttle.record_failure(session, username=user.username, address=client_address, settings=settings)
        _event(session, "second_factor_failed", user=user, actor=None, address=client_address,
               outcome=AuditOutcome.FAILURE, details={"username": user.username, "attempt": challenge.attempts})
        if challenge.attempts >= MAX_CODE_ATTEMPTS:
            session.delete(challenge)
            session.commit()
            raise SecondFactorError("code", Msg("Too many wrong codes. Enter your password again."), restart=True)
        session.commit()
        raise SecondFactorError("code", WRONG_CODE if not wait else auth_service.wait_message(wait))
    if method == "recovery_code":
        _event(session, "recovery_code_used", user=user, actor=user, address=client_address,
               details={"left": recovery_codes_left(session, user_id=user.id)})
    next_url = challenge.next_url
    session.delete(challenge)
    session_token = sign_in(session, user=user, user_agent=user_agent, client_address=client_address,
                            details={"second_factor": method})
    return SignedIn(token=session_token, next_url=next_url)
