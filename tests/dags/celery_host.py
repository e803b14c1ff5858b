"""The worker name Airflow records on each task instance under `make celery`.

Both Celery workers of the test run on this one machine; Airflow's [core] hostname_callable
points here so each records the name its test gave it (AUTOSCALER_WORKER_NAME), which shows
which worker ran which task.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("AUTOSCALER_WORKER_NAME") or socket.getfqdn()
