"""HyP3 on-demand InSAR: credentials, a retrying client, the jobs file, submit and watch.

Typical use (what the Processing algorithms do)::

    from insarhub_qgis.core.config import resolve_endpoints
    from insarhub_qgis.core.hyp3 import Hyp3Client, plan_jobs, resolve_credentials, submit_jobs, watch

    client = Hyp3Client.connect(resolve_endpoints(), resolve_credentials(explicit_or_none),
                                is_cancelled=feedback.isCanceled)
    plan = plan_jobs(pairs, "INSAR_GAMMA", {"LOOKS": "20x4"}, project_name="etna")
    result = submit_jobs(plan, "jobs.json", client)
    state = watch("jobs.json", client, wait=True, timeout_s=3600, retry_failed=True)
    products = download_products("jobs.json", "products/", client=client)  # core/hyp3/products.py

``hyp3_sdk`` is imported only when connecting, so importing this package works without it.
"""

from __future__ import annotations

from .client import (
    MAX_JOBS_PER_REQUEST,
    Hyp3Client,
    Hyp3ServiceError,
    Hyp3TransientError,
    JobNotFoundError,
    job_cost,
    total_cost,
)
from .credentials import Credentials, CredentialsError, connect, netrc_credentials, resolve_credentials
from .jobs_store import (
    NOT_SUBMITTED,
    UNKNOWN_TO_SERVER,
    FileRecord,
    JobRecord,
    JobsFile,
    JobsFileBusyError,
    PairEntry,
    jobs_file_lock,
)
from .products import ProductDownloadResult, download_products
from .submit import (
    JOB_TYPES,
    CostPreview,
    JobPlan,
    PlannedJob,
    SubmitResult,
    job_name,
    load_job_specs,
    local_costs,
    normalise_options,
    plan_jobs,
    preview_cost,
    submit_jobs,
)
from .watch import WatchResult, reconcile, refresh, watch

__all__ = [
    "JOB_TYPES",
    "MAX_JOBS_PER_REQUEST",
    "NOT_SUBMITTED",
    "UNKNOWN_TO_SERVER",
    "CostPreview",
    "Credentials",
    "CredentialsError",
    "FileRecord",
    "Hyp3Client",
    "Hyp3ServiceError",
    "Hyp3TransientError",
    "JobNotFoundError",
    "JobPlan",
    "JobRecord",
    "JobsFile",
    "JobsFileBusyError",
    "PairEntry",
    "PlannedJob",
    "ProductDownloadResult",
    "SubmitResult",
    "WatchResult",
    "connect",
    "download_products",
    "job_cost",
    "job_name",
    "jobs_file_lock",
    "load_job_specs",
    "local_costs",
    "netrc_credentials",
    "normalise_options",
    "plan_jobs",
    "preview_cost",
    "reconcile",
    "refresh",
    "resolve_credentials",
    "submit_jobs",
    "total_cost",
    "watch",
]
