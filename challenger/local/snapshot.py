"""What survives anything, kill -9 included: the buckets' objects (every version) and the tables' items, on disk.

A snapshot under `.challenger/state/` (written on a clean stop and after a restore) plus a journal (`Recorder`, in
front of moto's server, appends what each acknowledged S3/DynamoDB write left behind); `restore` replays both and
compacts them. The layout and why: docs/decisions/0008-local-cloud-strictness.md, "State that survives kill -9".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from challenger.local.private import FILE_MODE, write_private
from challenger.local.template import LocalTemplate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

INDEX = "index.json"
JOURNAL = "journal.jsonl"
DELETED = "\0deleted:"  # marks a deleted key between _targets and _record (no S3 key holds a NUL)
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
Versions = list[dict[str, Any]]


def _file_name(key: str, version_id: str) -> str:
    return hashlib.sha256(f"{key}\0{version_id}".encode()).hexdigest()


class Recorder:
    """WSGI middleware in front of moto: journals the state each successful S3/DynamoDB write left behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one read-back + append at a time: the journal's order is the state's
        self._journal: int | None = None

    def __call__(self, app: WSGIApplication) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
        def recorded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if self._journal is None or environ["REQUEST_METHOD"] in ("GET", "HEAD", "OPTIONS"):
                return app(environ, start_response)
            changed = self._targets(environ)
            if changed is None:
                return app(environ, start_response)
            status: list[str] = []

            def capture(line: str, headers: Any, exc_info: Any = None) -> Any:
                status.append(line)
                return start_response(line, headers, exc_info)

            response = app(environ, capture)
            try:
                body = list(response)  # the write is done once the answer is complete
            finally:
                if hasattr(response, "close"):
                    response.close()
            if status and status[0].startswith("2"):
                self._record(changed)
            return body

        return recorded

    def start(self, template: LocalTemplate, clients: dict[str, Any], directory: Path) -> None:
        """Journal from now on into `directory` (the snapshot there is the state up to now)."""
        self._s3, self._ddb, self._directory = clients["s3"], clients["dynamodb"], directory
        self._buckets = {template.ref(b): b for b in template.of_type("AWS::S3::Bucket")}
        self._tables = {template.ref(t): t for t in template.of_type("AWS::DynamoDB::Table")}
        self._keys = {name: _key_names(self._ddb, name) for name in self._tables}
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._journal = os.open(directory / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)

    def stop(self) -> None:
        with self._lock:
            if self._journal is not None:
                os.close(self._journal)
            self._journal = None

    def _object_lines(self, bucket: str, key: str | None) -> list[dict[str, Any]]:
        """A put adds the key's new latest version (a head and a get, no listing, so a put costs the same in a
        bucket of thousands of captures); a delete records the key's whole history, DeleteObjects the bucket's."""
        bucket_id, directory = self._buckets[bucket], self._directory / "s3" / self._buckets[bucket]
        lines: list[dict[str, Any]] = []
        if key is not None and not key.startswith(DELETED):
            with contextlib.suppress(self._s3.exceptions.ClientError):  # gone (a delete marker): its history below
                latest = [{"VersionId": self._s3.head_object(Bucket=bucket, Key=key).get("VersionId")}]
                [added] = _save_versions(self._s3, bucket, key, latest, directory)
                return [{"s3": bucket_id, "key": key, "add": added}]
        keys = [key.removeprefix(DELETED)] if key is not None else sorted(_all_versions(self._s3, bucket))
        if key is None:  # DeleteObjects: the keys left are all there is
            lines.append({"s3": bucket_id, "present": keys})
        for one in keys:
            entries = _all_versions(self._s3, bucket, one).get(one, [])
            lines.append(
                {"s3": bucket_id, "key": one, "versions": _save_versions(self._s3, bucket, one, entries, directory)}
            )
        return lines

    def _targets(self, environ: WSGIEnvironment) -> list[tuple[str, Any]] | None:
        """What a write request may change: ("s3", (bucket, key | None)) or ("ddb", (table, key attributes)); a
        deleted key is marked with DELETED."""
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("DynamoDB_") and target.rpartition(".")[2] in DYNAMODB_WRITES:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(size)
            environ["wsgi.input"] = io.BytesIO(raw)
            with contextlib.suppress(ValueError):
                return [("ddb", change) for change in _dynamodb_changes(json.loads(raw or b"{}"))]
            return None
        url = urlsplit(str(environ.get("RAW_URI") or environ.get("PATH_INFO", "")))
        if "/s3/aws4_request" not in str(environ.get("HTTP_AUTHORIZATION", "")) + unquote(url.query):
            return None
        bucket, _, key = url.path.lstrip("/").partition("/")
        if unquote(bucket) not in self._buckets:
            return None
        if key:
            deleted = DELETED if environ["REQUEST_METHOD"] == "DELETE" else ""
            return [("s3", (unquote(bucket), deleted + unquote(key)))]
        # DeleteObjects names its keys in an XML body: read back the whole bucket.
        return [("s3", (unquote(bucket), None))] if "delete" in parse_qs(url.query, keep_blank_values=True) else None

    def _record(self, changed: list[tuple[str, Any]]) -> None:
        with self._lock:
            if self._journal is None:
                return
            lines: list[dict[str, Any]] = []
            for kind, (name, key) in changed:
                if kind == "s3":
                    lines.extend(self._object_lines(name, key))
                elif name in self._tables:
                    attributes = {a: key[a] for a in self._keys[name] if a in key}
                    item = self._ddb.get_item(TableName=name, Key=attributes, ConsistentRead=True).get("Item")
                    lines.append({"ddb": self._tables[name], "key": attributes, "item": item})
            if lines:
                os.write(self._journal, "".join(json.dumps(line) + "\n" for line in lines).encode())


def _dynamodb_changes(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table name, item or key) for each item a DynamoDB write request touches."""
    changes = []
    if "TableName" in request:
        changes.append((request["TableName"], request.get("Key") or request.get("Item") or {}))
    for table, writes in (request.get("RequestItems") or {}).items():
        for write in writes:
            part = write.get("PutRequest", {}).get("Item") or write.get("DeleteRequest", {}).get("Key") or {}
            changes.append((table, part))
    for entry in request.get("TransactItems") or []:
        for action in ("Put", "Update", "Delete"):
            if action in entry:
                changes.append((entry[action]["TableName"], entry[action].get("Key") or entry[action].get("Item")))
    return [(table.rpartition("table/")[2] if table.startswith("arn:") else table, key) for table, key in changes]


def _key_names(ddb: Any, table: str) -> list[str]:
    return [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]


def _all_versions(s3: Any, bucket: str, prefix: str = "") -> dict[str, Versions]:
    """Key → its versions and delete markers, oldest first (S3 lists them newest first)."""
    found: dict[str, Versions] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries = [*page.get("Versions", []), *({**m, "DeleteMarker": True} for m in page.get("DeleteMarkers", []))]
        for entry in entries:
            if not prefix or entry["Key"] == prefix:
                found.setdefault(entry["Key"], []).append(entry)
    # Newest first within a page; equal times keep that order reversed, and the latest always ends the list.
    return {
        key: [
            e for _, e in sorted(enumerate(v), key=lambda p: (p[1].get("IsLatest", False), p[1]["LastModified"], -p[0]))
        ]
        for key, v in found.items()
    }


def _save_versions(s3: Any, bucket: str, key: str, entries: Versions, directory: Path) -> Versions:
    """Write the versions of `key` not on disk yet; their descriptions, oldest first ([]: the key is gone).

    A version's bytes never change, except the "null" version of an unversioned bucket, rewritten on each put."""
    saved = []
    for entry in entries:
        version_id = entry.get("VersionId") or "null"
        if entry.get("DeleteMarker"):
            saved.append({"version_id": version_id, "delete_marker": True})
            continue
        name = _file_name(key, version_id)
        path = directory / name
        if version_id != "null" and path.exists():
            obj = s3.head_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
        else:
            obj = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(path, obj["Body"].read())
        saved.append(
            {
                "version_id": version_id,
                "file": name,
                "content_type": obj.get("ContentType"),
                "metadata": obj.get("Metadata") or {},
                "checksum": "SHA256" if obj.get("ChecksumSHA256") else None,
            }
        )
    return saved


def save(template: LocalTemplate, clients: dict[str, Any], directory: Path) -> None:
    """Write every object version of the template's buckets and every item of its tables under `directory`."""
    staging = directory.with_name(directory.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    s3, ddb = clients["s3"], clients["dynamodb"]
    for bucket_id in template.of_type("AWS::S3::Bucket"):
        bucket, target = template.ref(bucket_id), staging / "s3" / bucket_id
        target.mkdir(mode=0o700, parents=True)
        index = {key: _save_versions(s3, bucket, key, v, target) for key, v in _all_versions(s3, bucket).items()}
        write_private(target / INDEX, json.dumps(index))
    for table_id in template.of_type("AWS::DynamoDB::Table"):
        items: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(TableName=template.ref(table_id), ConsistentRead=True):
            items.extend(page["Items"])
        target = staging / "dynamodb" / f"{table_id}.json"
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(target, json.dumps(items))
    # Two renames, so a crash mid-save never leaves half a snapshot: until the first, the old one and its journal
    # are whole; between the two (microseconds), `recover` finds the new one complete.
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def recover(directory: Path) -> bool:
    """Whether there is state to restore, after finishing a swap a crash interrupted (see `save`)."""
    if not directory.exists():
        for candidate in (directory.with_name(directory.name + ".new"), directory.with_name(directory.name + ".old")):
            if candidate.exists():  # .new first: it is complete once `state` has been moved away
                candidate.rename(directory)
                break
    return directory.exists()


def restore(template: LocalTemplate, clients: dict[str, Any], directory: Path) -> int:
    """Put a saved snapshot and its journal back, then compact both into a new snapshot; returns how many object
    versions and items it restored."""
    s3, ddb = clients["s3"], clients["dynamodb"]
    objects, items = _load(template, ddb, directory)
    restored = 0
    for bucket_id, keys in objects.items():
        bucket = template.ref(bucket_id)
        for key, versions in keys.items():
            for version in versions:
                if version.get("delete_marker"):
                    s3.delete_object(Bucket=bucket, Key=key)
                    continue
                extra = {"ChecksumAlgorithm": version["checksum"]} if version.get("checksum") else {}
                if version.get("content_type"):
                    extra["ContentType"] = version["content_type"]
                body = (directory / "s3" / bucket_id / version["file"]).read_bytes()
                put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=version.get("metadata") or {}, **extra)
                _keep_version_id(template, bucket, key, put.get("VersionId"), version["version_id"])
                restored += 1
    for table_id, by_key in items.items():
        for item in by_key.values():
            ddb.put_item(TableName=template.ref(table_id), Item=item)
            restored += 1
    save(template, clients, directory)
    return restored


def _load(template: LocalTemplate, ddb: Any, directory: Path) -> tuple[dict[str, dict[str, Versions]], dict[str, Any]]:
    objects: dict[str, dict[str, Versions]] = {}
    for bucket_dir in sorted((directory / "s3").glob("*")):
        if bucket_dir.name in template.resources:
            objects[bucket_dir.name] = _bucket_index(bucket_dir)
    items: dict[str, dict[str, Any]] = {}
    keys = {t: _key_names(ddb, template.ref(t)) for t in template.of_type("AWS::DynamoDB::Table")}
    for table_id, names in keys.items():
        path = directory / "dynamodb" / f"{table_id}.json"
        saved = json.loads(path.read_text()) if path.exists() else []
        items[table_id] = {_item_key(item, names): item for item in saved}
    journal = directory / JOURNAL
    for line in journal.read_bytes().splitlines() if journal.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line being written when the process died: its write was never acknowledged
        if "s3" in entry and entry["s3"] in template.resources:
            keys_of = objects.setdefault(entry["s3"], {})
            if "present" in entry:
                objects[entry["s3"]] = {k: v for k, v in keys_of.items() if k in set(entry["present"])}
            elif "add" in entry:
                added, history = entry["add"], keys_of.setdefault(entry["key"], [])
                # the same version again (tags, ACL), or an unversioned bucket's one "null" version: replaced
                history[:] = [v for v in history if v.get("version_id") != added["version_id"]] + [added]
            else:
                keys_of[entry["key"]] = entry["versions"]
        elif entry.get("ddb") in keys:
            table = items[entry["ddb"]]
            key = _item_key(entry["key"], keys[entry["ddb"]])
            if entry["item"] is None:
                table.pop(key, None)
            else:
                table[key] = entry["item"]
    return objects, items


def _bucket_index(bucket_dir: Path) -> dict[str, Versions]:
    index = bucket_dir / INDEX
    if index.exists():
        saved: dict[str, Versions] = json.loads(index.read_text())
        return saved
    # A snapshot of an older version: one file per key, named by the quoted key.
    return {unquote(p.name): [{"version_id": "null", "file": p.name}] for p in bucket_dir.iterdir() if p.is_file()}


def _item_key(item: dict[str, Any], names: list[str]) -> str:
    return json.dumps({name: item.get(name) for name in names}, sort_keys=True)


def _keep_version_id(template: LocalTemplate, bucket: str, key: str, new: str | None, saved: str) -> None:
    """Give the restored version its old id, so a version pinned before the restart still resolves. moto's
    server runs in this process; its S3 backend keeps each key's versions in a list of FakeKey objects."""
    if not new or saved in ("null", new):
        return
    from moto.s3.models import s3_backends  # noqa: PLC0415 — moto's internals, only on this path

    from challenger.local.lambda_runtime import check_moto_version  # noqa: PLC0415

    check_moto_version()  # FakeKey._version_id: written for moto 5.2.5 (issue 16 §4: every reach into moto pinned)
    for fake_key in s3_backends[template.account]["aws"].buckets[bucket].keys.getlist(key, []):
        if fake_key.version_id == new:
            fake_key._version_id = saved  # no API sets a version id
