"""`churnlens serve`: register one Prefect deployment per scheduled job and run them until stopped."""
from __future__ import annotations

from prefect import serve
from prefect.settings import PREFECT_API_URL
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron, Interval

from flows.inbox import tag_inbox
from pipeline.schedule import Schedule


def prefect_api_url() -> str | None:
    """The Prefect server this process talks to (environment or active Prefect profile), if any."""
    return PREFECT_API_URL.value() or None


def deployments(schedule: Schedule) -> list:
    out = []
    for job in schedule.jobs:
        when = (Cron(job.cron, timezone=job.timezone) if job.cron
                else Interval(job.interval_seconds, timezone=job.timezone))
        out.append(tag_inbox.to_deployment(
            name=job.name, schedule=when, parameters=job.flow_parameters(), tags=["churnlens"],
            description=f"tag new files of {job.inbox} into the results store",
            entrypoint_type=EntrypointType.MODULE_PATH))
    return out


def serve_schedule(schedule: Schedule) -> None:
    """Blocks: the Prefect server fires the schedules, this process runs the flow runs."""
    serve(*deployments(schedule), limit=schedule.max_concurrent_runs)
