from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.parcels import service
from crm.parcels.models import LandParcel


def parcel_by_id(parcel_id: RecordId, session: SessionDep) -> LandParcel:
    return found(service.get(session, parcel_id))


ParcelDep = Annotated[LandParcel, Depends(parcel_by_id)]
