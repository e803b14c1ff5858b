"""Authentication and permissions for the plugin's routes, from Airflow's own auth manager.

Airflow mounts a plugin's FastAPI app without its authentication, so every route here
depends on one of these.  The user comes from Airflow's JWT (the ``Authorization: Bearer``
header, or the UI's ``_token`` cookie), exactly as Airflow's REST API resolves it; the
permission is Airflow's permission on the ``autoscaler_hourly`` DAG: reading the DAG lets a
user read the autoscaler (``Reader``), editing it lets them change what the autoscaler does
(``Operator``: approve, rules, emergency controls, rollback).  With the simple auth manager
that is the viewer and the user role; with FAB or Keycloak, whatever grants those DAG rights.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, status

DAG_ID = "autoscaler_hourly"


def _permission(method: Literal["GET", "PUT"], what: str) -> Any:
    # get_user: 401 without a token, 401 for an expired one, 403 for one that does not verify.
    async def check(user: Annotated[BaseUser, Depends(get_user)]) -> BaseUser:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        if not get_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=DAG_ID), user=user):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{user.get_name()} may not {what}: it takes {method} permission on the DAG {DAG_ID}",
            )
        return user

    return check


Reader = Annotated[Any, Depends(_permission("GET", "read the autoscaler"))]
Operator = Annotated[Any, Depends(_permission("PUT", "change what the autoscaler does"))]


def actor(user: Any) -> str:
    """The name the audit trail records for ``user``."""
    return str(user.get_name())
