"""/admin/webhooks (system administrator): event subscriptions, their secret shown once, their delivery log with
a retry button, and a test event."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth.deps import RequireAdmin, require_admin
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest
from crm.forms import FormResult, parse_version
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_choice, parse_page
from crm.notifications import schemas as notification_schemas
from crm.notifications import service as notification_service
from crm.notifications.models import DeliveryStatus
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, redirect, render, replay_or_claim
from crm.webhooks import service
from crm.webhooks.deps import SubscriptionDep
from crm.webhooks.models import WebhookSubscription
from crm.webhooks.schemas import parse_subscription

router = Router(prefix="/admin/webhooks", dependencies=[Depends(require_admin)])
PER_PAGE = 50
STALE = Msg("Someone changed this subscription after you opened the page. Look at it again and repeat your change.")


def _allow_private(request: Request) -> bool:
    return request.app.state.settings.webhook_allow_private


def _form_context(form: FormResult, subscription: WebhookSubscription | None, **extra: Any) -> dict[str, Any]:
    return {"form": form, "subscription": subscription, "events": service.EVENTS,
            "chosen": set(filter(None, form.values.get("events", "").split(","))), **extra}


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "admin/webhooks/index.html", {
        "subscriptions": service.subscriptions(session), "failed": service.failed_counts(session),
        "events": service.EVENTS})


@router.get("/new")
def new(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "admin/webhooks/form.html", _form_context(FormResult(values={"active": "1"}), None))


@router.post("")
def create(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=WebhookSubscription,
                                   url=lambda s: f"/admin/webhooks/{s.id}")) is not None:
        return earlier
    form = parse_subscription(raw, editing=False)
    if form.ok:
        try:
            subscription, secret = service.create(session, data=form.data, actor=admin,
                                                  allow_private=_allow_private(request))
        except service.InvalidSubscription as invalid:
            form.errors.update(invalid.errors)
        else:
            return render(request, "admin/webhooks/secret.html", {"subscription": subscription, "secret": secret,
                                                                  "created": True}, status_code=201)
    return render(request, "admin/webhooks/form.html", _form_context(form, None), block="form", status_code=422)


@router.get("/{subscription_id}")
def show(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep) -> Response:
    params = request.query_params
    try:
        status = parse_choice(params, "status", [s.value for s in DeliveryStatus])
        page = parse_page(params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    deliveries = service.deliveries_page(session, subscription_id=subscription.id, page=page, per_page=PER_PAGE,
                                         status=status)
    return render(request, "admin/webhooks/show.html", {
        "subscription": subscription, "page": deliveries, "status": status,
        "params": {"status": status} if status else {}, "events": service.EVENT_LABELS,
        "status_labels": notification_schemas.STATUS_LABELS}, block="deliveries")


@router.get("/{subscription_id}/edit")
def edit(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep) -> Response:
    values = {"url": subscription.url, "description": subscription.description,
              "events": ",".join(subscription.events or []), "active": "1" if subscription.active else ""}
    return render(request, "admin/webhooks/form.html", _form_context(FormResult(values=values), subscription,
                                                                     version=subscription.version))


@router.post("/{subscription_id}")
def update(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep,
           raw: FormDep) -> Response:
    form = parse_subscription(raw, editing=True)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, subscription=subscription, data=form.data, version=version, actor=admin,
                           allow_private=_allow_private(request))
            return redirect(request, f"/admin/webhooks/{subscription.id}", flash=Msg("Changes saved."))
        except service.InvalidSubscription as invalid:
            form.errors.update(invalid.errors)
        except StaleEdit:
            current = service.get(session, subscription.id)
            form.add_error("version", STALE)
            return render(request, "admin/webhooks/form.html", _form_context(form, current, version=current.version),
                          block="form", status_code=409)
    return render(request, "admin/webhooks/form.html", _form_context(form, subscription, version=version),
                  block="form", status_code=422)


@router.get("/{subscription_id}/rotate")
def confirm_rotate(request: Request, session: SessionDep, admin: RequireAdmin,
                   subscription: SubscriptionDep) -> Response:
    return render(request, "admin/webhooks/confirm.html", {"subscription": subscription, "action": "rotate"})


@router.post("/{subscription_id}/rotate")
def rotate(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep,
           raw: FormDep) -> Response:
    try:
        secret = service.rotate_secret(session, subscription=subscription, version=parse_version(raw), actor=admin)
    except StaleEdit:
        return redirect(request, f"/admin/webhooks/{subscription.id}", flash=STALE)
    return render(request, "admin/webhooks/secret.html", {"subscription": subscription, "secret": secret,
                                                          "created": False})


@router.get("/{subscription_id}/delete")
def confirm_delete(request: Request, session: SessionDep, admin: RequireAdmin,
                   subscription: SubscriptionDep) -> Response:
    return render(request, "admin/webhooks/confirm.html", {"subscription": subscription, "action": "delete"})


@router.post("/{subscription_id}/delete")
def delete(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep,
           raw: FormDep) -> Response:
    try:
        service.remove(session, subscription=subscription, version=parse_version(raw), actor=admin)
    except StaleEdit:
        return redirect(request, f"/admin/webhooks/{subscription.id}", flash=STALE)
    return redirect(request, "/admin/webhooks", flash=Msg("The subscription and its delivery log were deleted."))


@router.post("/{subscription_id}/test")
def send_test(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep) -> Response:
    service.send_test(session, subscription=subscription, actor=admin)
    return redirect(request, f"/admin/webhooks/{subscription.id}",
                    flash=Msg("A test event will be sent at the scheduler's next delivery pass."))


@router.post("/{subscription_id}/deliveries/{delivery_id}/retry")
def retry(request: Request, session: SessionDep, admin: RequireAdmin, subscription: SubscriptionDep,
          delivery_id: RecordId) -> Response:
    try:
        service.retry(session, subscription=subscription, delivery_id=delivery_id, actor=admin)
    except notification_service.NotRetryable:
        raise BadRequest(Msg("Only a failed delivery can be retried.")) from None
    return redirect(request, f"/admin/webhooks/{subscription.id}",
                    flash=Msg("The delivery will be tried again at the scheduler's next pass."))
