from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.contacts import service
from crm.contacts.models import Contact
from crm.db import RecordId, SessionDep
from crm.errors import found


def contact_by_id(contact_id: RecordId, session: SessionDep) -> Contact:
    return found(service.get(session, contact_id))


ContactDep = Annotated[Contact, Depends(contact_by_id)]
