"""Mounts the autoscaler's REST API and its page in Airflow's API server and UI.

The code lives in the installed package (autoscaler.api); this file only wires it in, so
it is cheap to import.  Airflow mounts plugin apps without its own authentication: every
route of these apps checks the Airflow user itself (autoscaler.api.auth).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin


def _apps() -> list[dict[str, Any]]:
    from autoscaler.api.app import PAGE_PREFIX, PREFIX, create_app, create_page_app

    return [
        {"app": create_app(), "url_prefix": PREFIX, "name": "autoscaler_api"},
        {"app": create_page_app(), "url_prefix": PAGE_PREFIX, "name": "autoscaler_page"},
    ]


class AutoscalerPlugin(AirflowPlugin):
    name = "autoscaler"
    fastapi_apps = _apps()
    external_views = [  # noqa: RUF012 (AirflowPlugin declares these as class attributes)
        {
            "name": "Autoscaler",
            "href": "/auto-scaler/",
            "destination": "nav",
            "category": "browse",
            "url_route": "autoscaler",
        }
    ]
