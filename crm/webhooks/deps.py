from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.webhooks import service
from crm.webhooks.models import WebhookSubscription


def subscription_by_id(subscription_id: RecordId, session: SessionDep) -> WebhookSubscription:
    return found(service.get(session, subscription_id))


SubscriptionDep = Annotated[WebhookSubscription, Depends(subscription_by_id)]
