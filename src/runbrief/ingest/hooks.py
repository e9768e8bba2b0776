"""Batch hooks every writer runs (see ``Pipeline``); each module registers its own.

Import order is the order hooks run in.
"""

from __future__ import annotations

from runbrief.ingest.pipeline import batch_hook
from runbrief.redact import redact_batch

batch_hook(redact_batch)  # secrets out before anything else sees the batch

# isort: split
import runbrief.ingest.deploys  # noqa: F401,E402 - infers deploys from service.version changes
import runbrief.ingest.kube  # noqa: F401,E402 - k8s events from collector logs; correlation
