"""What survives a restart of the local cloud: the buckets' objects and the tables' items, on disk.

moto keeps everything in memory, so on shutdown we write the state out under `.challenger/state/` and on
start we put it back before anything can observe an empty stack. Executions are not persisted: a run
that was RUNNING when the cloud stopped is closed as FAILED ("interrupted") on the next start.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from challenger.local.private import write_private
from challenger.local.template import LocalTemplate


def save(template: LocalTemplate, clients: dict[str, Any], directory: Path) -> None:
    """Write every object of the template's buckets and every item of its tables under `directory`."""
    staging = directory.with_name(directory.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    s3, ddb = clients["s3"], clients["dynamodb"]
    for bucket_id in template.of_type("AWS::S3::Bucket"):
        bucket = template.ref(bucket_id)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                target = staging / "s3" / bucket_id / quote(item["Key"], safe="")
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_private(target, s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    for table_id in template.of_type("AWS::DynamoDB::Table"):
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=template.ref(table_id)):
            items.extend(page["Items"])
        target = staging / "dynamodb" / f"{table_id}.json"
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(target, json.dumps(items))
    # Swap in one step so a crash mid-save never leaves half a snapshot.
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def restore(template: LocalTemplate, clients: dict[str, Any], directory: Path) -> int:
    """Put a saved snapshot back; returns how many objects and items it restored."""
    restored = 0
    s3, ddb = clients["s3"], clients["dynamodb"]
    for bucket_dir in sorted((directory / "s3").glob("*")):
        if bucket_dir.name not in template.resources:
            continue
        for path in sorted(bucket_dir.iterdir()):
            s3.put_object(Bucket=template.ref(bucket_dir.name), Key=unquote(path.name), Body=path.read_bytes())
            restored += 1
    for table_file in sorted((directory / "dynamodb").glob("*.json")):
        if table_file.stem not in template.resources:
            continue
        for item in json.loads(table_file.read_text()):
            ddb.put_item(TableName=template.ref(table_file.stem), Item=item)
            restored += 1
    return restored
