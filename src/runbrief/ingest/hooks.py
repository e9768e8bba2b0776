"""Batch hooks every writer runs (see ``Pipeline``); each module registers its own.

Import order is the order hooks run in.
"""

from __future__ import annotations

import runbrief.redact  # noqa: E402,F401  (secrets out before anything else sees the batch)

# isort: split
import runbrief.ingest.deploys  # noqa: F401,E402 - infers deploys from service.version changes
import runbrief.ingest.kube  # noqa: F401,E402 - k8s events from collector logs; correlation
