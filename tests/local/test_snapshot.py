"""Issue 18 F3: the local cloud's state survives anything. A 1,024-byte S3 key crashed the save on stop (models
7→0, runs 32→0, audit log 9→0), and state was saved only on a clean stop, so kill -9 lost everything since."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from challenger.local import snapshot
from challenger.local.provision import table_definition
from challenger.local.serving import WsgiServer
from challenger.local.template import LocalTemplate

LONG_KEY = "incoming/reviews/" + "é" * 400 + "x" * (1024 - len("incoming/reviews/") - 800)  # 1,024 bytes in UTF-8


@pytest.fixture
def moto(template: LocalTemplate) -> Iterator[tuple[snapshot.Recorder, dict[str, Any], Any]]:
    """moto's server app behind a Recorder, as the local cloud runs it, with the template's buckets and tables."""
    recorder = snapshot.Recorder()
    server = WsgiServer(recorder(DomainDispatcherApplication(create_backend_app)), handler=MotoRequestHandler)
    clients: dict[str, Any] = {name: boto3.client(name, endpoint_url=server.url) for name in ("s3", "dynamodb")}

    def empty_stack() -> None:  # what a new process starts from
        requests.post(f"{server.url}/moto-api/reset", timeout=30).raise_for_status()
        for bucket in template.of_type("AWS::S3::Bucket"):
            clients["s3"].create_bucket(Bucket=template.ref(bucket))
            clients["s3"].put_bucket_versioning(
                Bucket=template.ref(bucket), VersioningConfiguration={"Status": "Enabled"}
            )
        for table in template.of_type("AWS::DynamoDB::Table"):
            clients["dynamodb"].create_table(**table_definition(template, table))

    empty_stack()
    yield recorder, clients, empty_stack
    recorder.stop()
    server.stop()


def test_a_1024_byte_key_is_saved_and_restored_with_everything_else(
    template: LocalTemplate, moto: Any, tmp_path: Path
) -> None:
    _, clients, empty_stack = moto
    s3, ddb = clients["s3"], clients["dynamodb"]
    data, models = template.ref("DataBucket"), template.ref("ModelsTable")
    put = s3.put_object(Bucket=data, Key=LONG_KEY, Body=b"review_text,sentiment\n")
    s3.put_object(Bucket=data, Key="incoming/reviews/train.csv", Body=b"a,1\n")
    ddb.put_item(TableName=models, Item={"pk": {"S": "AUDIT"}, "sk": {"S": "1"}})

    snapshot.save(template, clients, tmp_path / "state")
    empty_stack()
    assert snapshot.restore(template, clients, tmp_path / "state") == 3

    restored = s3.get_object(Bucket=data, Key=LONG_KEY)
    assert (restored["Body"].read(), restored["VersionId"]) == (b"review_text,sentiment\n", put["VersionId"])
    assert ddb.scan(TableName=models)["Count"] == 1
    assert all(len(p.name) < 100 for p in (tmp_path / "state").rglob("*"))


def test_every_acknowledged_write_survives_a_kill_without_a_save(
    template: LocalTemplate, moto: Any, tmp_path: Path
) -> None:
    recorder, clients, empty_stack = moto
    s3, ddb = clients["s3"], clients["dynamodb"]
    data, models = template.ref("DataBucket"), template.ref("ModelsTable")
    state = tmp_path / "state"
    s3.put_object(Bucket=data, Key="gone.csv", Body=b"old")
    snapshot.save(template, clients, state)  # the last clean stop
    recorder.start(template, clients, state)

    first = s3.put_object(Bucket=data, Key=LONG_KEY, Body=b"v1", ContentType="text/csv", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=data, Key=LONG_KEY, Body=b"v2", Metadata={"run": "r1"})
    s3.delete_object(Bucket=data, Key="gone.csv")
    s3.put_object(Bucket=data, Key="batch/a.csv", Body=b"a")
    s3.put_object(Bucket=data, Key="batch/b.csv", Body=b"b")
    s3.delete_objects(Bucket=data, Delete={"Objects": [{"Key": "batch/a.csv"}]})
    dropped = s3.put_object(Bucket=data, Key="batch/b.csv", Body=b"b2")["VersionId"]
    s3.delete_object(Bucket=data, Key="batch/b.csv", VersionId=dropped)  # b.csv is "b" again
    ddb.put_item(TableName=models, Item={"pk": {"S": "RUN"}, "sk": {"S": "r1"}, "status": {"S": "RUNNING"}})
    ddb.update_item(
        TableName=models,
        Key={"pk": {"S": "RUN"}, "sk": {"S": "r1"}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "training"}},
    )
    ddb.batch_write_item(
        RequestItems={models: [{"PutRequest": {"Item": {"pk": {"S": "AUDIT"}, "sk": {"S": str(i)}}}} for i in range(3)]}
    )
    ddb.transact_write_items(
        TransactItems=[{"Delete": {"TableName": models, "Key": {"pk": {"S": "AUDIT"}, "sk": {"S": "0"}}}}]
    )
    with (state / snapshot.JOURNAL).open("ab") as journal:
        journal.write(b'{"ddb": "ModelsTable", "key": {"pk"')  # the line being written when the process died

    recorder.stop()  # kill -9: no save; a new process starts empty
    empty_stack()
    snapshot.restore(template, clients, state)

    latest = s3.get_object(Bucket=data, Key=LONG_KEY)
    assert (latest["Body"].read(), latest["Metadata"]) == (b"v2", {"run": "r1"})
    pinned = s3.get_object(Bucket=data, Key=LONG_KEY, VersionId=first["VersionId"], ChecksumMode="ENABLED")
    assert (pinned["Body"].read(), pinned["ContentType"]) == (b"v1", "text/csv")
    assert pinned["ChecksumSHA256"] == first["ChecksumSHA256"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=data, Prefix="gone.csv").get("Contents", [])] == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=data, Prefix="batch/")["Contents"]] == ["batch/b.csv"]
    assert s3.get_object(Bucket=data, Key="batch/b.csv")["Body"].read() == b"b"
    run = ddb.get_item(TableName=models, Key={"pk": {"S": "RUN"}, "sk": {"S": "r1"}})["Item"]
    assert run["note"] == {"S": "training"}
    audit = ddb.query(
        TableName=models, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "AUDIT"}}
    )
    assert sorted(item["sk"]["S"] for item in audit["Items"]) == ["1", "2"]
    assert not (state / snapshot.JOURNAL).exists()  # compacted into the new snapshot


def test_a_crash_between_the_snapshot_swaps_renames_loses_nothing(
    template: LocalTemplate, moto: Any, tmp_path: Path
) -> None:
    _, clients, empty_stack = moto
    data = template.ref("DataBucket")
    clients["s3"].put_object(Bucket=data, Key=LONG_KEY, Body=b"kept")
    state = tmp_path / "state"
    snapshot.save(template, clients, state)
    state.rename(tmp_path / "state.new")  # what `save` leaves when killed after its first rename

    empty_stack()
    assert snapshot.recover(state)
    snapshot.restore(template, clients, state)
    assert clients["s3"].get_object(Bucket=data, Key=LONG_KEY)["Body"].read() == b"kept"
