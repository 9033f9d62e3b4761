"""Keep library chatter out of the user's terminal: raydistill prints its own progress lines.

`quiet_env()` runs first thing in the CLI, before torch/transformers/ray are imported, and sets environment
variables (never overriding the user's own) that Ray workers started from this process inherit.
`quiet_loggers()` lowers the level of loggers that are already configured (call it inside Ray workers too).
"""

from __future__ import annotations

import logging
import os

ENV_DEFAULTS = {
    "TRANSFORMERS_VERBOSITY": "error",  # weight-load reports ("classifier.bias MISSING" is expected for a new head)
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # "Loading weights" / "Writing model shards" bars
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_AUTH_MODE": "disabled",  # local test clusters: no token file written under ~/.ray
}

NOISY_LOGGERS = ("ray.train", "ray.tune", "ray.data", "torch.onnx", "onnxscript", "datasets")


def quiet_env() -> None:
    """Set the environment defaults above, keeping any value the user already set."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def quiet_loggers(level: int = logging.WARNING) -> None:
    """Lower already-known chatty loggers to `level` (progress stays on raydistill's own lines)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
