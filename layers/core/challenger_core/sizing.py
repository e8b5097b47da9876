"""Sizing a training job to its data (issue 24): the input mode, the storage volume, and whether the instance's
memory can hold the job.

Input mode (CreateTrainingJob ``AlgorithmSpecification.TrainingInputMode`` / ``Channel.InputMode``,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AlgorithmSpecification.html): in ``File`` mode
SageMaker downloads the whole channel to the ML storage volume before the script starts, so the volume must hold it
and the download time is paid up front; in ``FastFile`` mode it "streams data directly from S3 to the container with
no code changes, and provides file system access to the data" (S3Prefix channels only), which suits a script that
reads its files sequentially once or twice — what the recipe kit does, chunk by chunk. Small data keeps ``File``
(nothing to gain, and FastFile's first reads are slower); from ``FAST_FILE_BYTES`` on, the train channel is FastFile.

Memory: the kit's peak is measured, not guessed (``make bench``, bench/bench_data_scale.py, docs/performance.md):
a recipe whose ``fit`` takes rows holds every training row as a Python dict, ~15x the CSV's bytes (1.33 GB peak for
91 MB of flights); a recipe with ``fit_batches`` holds a chunk, the hold-out and 8 bytes of row id per row: 1.0 GB
peak for 1 GB.
Instance memory: the SageMaker instance types' GiB (https://aws.amazon.com/sagemaker/pricing/, "Instance details";
the same figures as the EC2 types they run on, https://aws.amazon.com/ec2/instance-types/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

GIB = 1024**3
# At or above this many bytes of training data the train channel streams (FastFile) instead of being copied (File).
FAST_FILE_BYTES = 1 * GIB
# CreateTrainingJob's ResourceConfig.VolumeSizeInGB: what the product asked for before sizing (and its minimum).
MIN_VOLUME_GB = 10

# Measured peak of a training job, per byte of CSV training data, and the fixed part (Python, numpy, scikit-learn,
# pyarrow, the model). Rows: bench_data_scale's row-interface run (flights, 91 MB: 1.33 GB). Batches: a chunk, the
# 1% hold-out as rows and the row ids (bench_data_scale, fit_batches: 422 / 736 / 1,017 MB at 0.09 / 0.51 / 1.0 GB,
# i.e. ~0.65 byte per byte over the fixed part; 0.7 with a margin).
ROWS_BYTES_PER_BYTE = 15.0
BATCHES_BYTES_PER_BYTE = 0.7
FIXED_BYTES = 400 * 1024**2
# What the job may use of the instance's memory: the rest is the OS, the training toolkit and page cache.
USABLE_FRACTION = 0.8

# Memory (GiB) of SageMaker training instance types, smallest first within a family (AWS pricing page, above).
INSTANCE_MEMORY_GIB: dict[str, int] = {
    "ml.m5.large": 8,
    "ml.m5.xlarge": 16,
    "ml.m5.2xlarge": 32,
    "ml.m5.4xlarge": 64,
    "ml.m5.12xlarge": 192,
    "ml.m5.24xlarge": 384,
    "ml.c5.xlarge": 8,
    "ml.c5.2xlarge": 16,
    "ml.c5.4xlarge": 32,
    "ml.c5.9xlarge": 72,
    "ml.c5.18xlarge": 144,
    "ml.r5.large": 16,
    "ml.r5.xlarge": 32,
    "ml.r5.2xlarge": 64,
    "ml.r5.4xlarge": 128,
    "ml.r5.12xlarge": 384,
    "ml.r5.24xlarge": 768,
}


def train_input_mode(data_bytes: int) -> Literal["File", "FastFile"]:
    """The train channel's input mode for this much data (module docstring)."""
    return "FastFile" if data_bytes >= FAST_FILE_BYTES else "File"


# What a training job writes besides a File-mode copy of the channel, per byte of CSV data (bench_data_scale, 1 GB
# of flights): the kit's spill of the training side in Arrow form with each row's hash (1.38 bytes) and the model's
# training_rows.json (0.21 bytes: 20 bytes a row).
SPILL_BYTES_PER_BYTE = 1.6


def volume_gb(data_bytes: int) -> int:
    """VolumeSizeInGB: the channel's copy (File mode only) plus what the job writes (SPILL_BYTES_PER_BYTE), plus 5 GB
    for the code, the model and the output; never below the 10 GB the product always asked for."""
    copy = data_bytes if train_input_mode(data_bytes) == "File" else 0
    return max(MIN_VOLUME_GB, math.ceil((copy + SPILL_BYTES_PER_BYTE * data_bytes) / GIB) + 5)


def training_memory(data_bytes: int, *, batches: bool) -> int:
    """The training job's expected peak memory in bytes for ``data_bytes`` of training data."""
    per_byte = BATCHES_BYTES_PER_BYTE if batches else ROWS_BYTES_PER_BYTE
    return int(FIXED_BYTES + per_byte * data_bytes)


@dataclass(frozen=True)
class SizingAdvice:
    instance_type: str
    instance_gib: int | None
    needed_bytes: int
    fits: bool
    suggestion: str | None  # the smallest instance type that holds it (None: none in the table does)

    @property
    def message(self) -> str:
        need = f"about {self.needed_bytes / GIB:.1f} GiB"
        if self.instance_gib is None:
            return f"{self.instance_type}: memory unknown to challenger (needs {need})"
        if self.fits:
            return f"{self.instance_type} ({self.instance_gib} GiB) holds it ({need})"
        instead = f"use {self.suggestion} ({INSTANCE_MEMORY_GIB[self.suggestion]} GiB)" if self.suggestion else ""
        return f"{self.instance_type} has {self.instance_gib} GiB; training needs {need}" + (
            f": {instead}" if instead else ": no listed instance type is large enough; use a recipe with fit_batches"
        )


def advise(instance_type: str, data_bytes: int, *, batches: bool = False) -> SizingAdvice:
    """Can ``instance_type`` train on ``data_bytes`` of data, and if not, which instance type can (the one with the
    least memory that holds it, the same family first)."""
    needed = training_memory(data_bytes, batches=batches)
    gib = INSTANCE_MEMORY_GIB.get(instance_type)

    def holds(name: str) -> bool:
        return INSTANCE_MEMORY_GIB[name] * GIB * USABLE_FRACTION >= needed

    family = instance_type.rsplit(".", 1)[0]
    candidates = sorted(
        INSTANCE_MEMORY_GIB, key=lambda name: (not name.startswith(family + "."), INSTANCE_MEMORY_GIB[name])
    )
    suggestion = next((name for name in candidates if holds(name)), None)
    fits = gib is not None and holds(instance_type)
    return SizingAdvice(instance_type, gib, needed, fits, None if fits else suggestion)
