"""Every byte that runs is the byte that was verified: model archives and recipe bundles (issue 18, F1 and F2).

Model archives (docs/security.md, F1):
1. The training job hashes what it produces. SageMaker itself compresses `/opt/ml/model` into `model.tar.gz` and
   uploads it after training has completed
   (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ModelArtifacts.html), so the job cannot hash the
   archive: the recipe kit writes `model_manifest.json`, the SHA-256 of every file it left in the model directory,
   to `output/` beside `evaluation.json` (recipes/kit/challenger_kit.py).
2. RegisterCandidate pins the archive's S3 `VersionId` (the artifact bucket is versioned), streams that version once
   and checks its members against the manifest: an archive replaced between the job and registration has other
   members and is refused. The archive's SHA-256 and the VersionId are recorded on the version.
3. StartDeployment copies exactly that version to `models/sha256/<digest>/model.tar.gz`, hashing what it reads and
   refusing a mismatch, and puts it with `ChecksumSHA256`, so S3 refuses a body that is not the hashed one
   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html). Only
   StartDeploymentFunction may write `models/*` (bucket policy, template.yaml). CreateModel gets that key, so every
   container start — a restart, a scale-out, a cold start: SageMaker downloads `ModelDataUrl` each time — loads the
   verified bytes; Batch Transform runs that SageMaker model and checks the copy before it starts; a retrain's
   champion channel is that key, its digest passed as `champion-sha256` and checked inside the job before any of
   the champion is extracted or run.

Recipe bundles (F2): the publisher puts `sourcedir.tar.gz` at `recipes/<name>/sha256/<digest>/sourcedir.tar.gz` and
records the digest and VersionId in `recipes/<name>/bundle.json`; StartTraining checks the digest of what is under
that key and hands CreateTrainingJob the content-addressed key. Only the publisher may write `recipes/*` (bucket
policy).

A refusal raises ArtifactIntegrityError: the run or deployment fails with an alert email, and nothing on the endpoint
changes, so the champion keeps serving.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import zlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenger_core.adapters.storage import Storage, split_s3_uri
from challenger_core.errors import ArtifactIntegrityError, NotFoundError
from challenger_core.models import DeploymentState, ModelVersion
from challenger_core.observability import logger
from challenger_core.registry import Registry

MANIFEST_FILE = "model_manifest.json"  # the kit's MANIFEST_FILE
PINNED_MODELS_PREFIX = "models/sha256/"
BUNDLE_RECORD_FILE = "bundle.json"
CHUNK_BYTES = 1024 * 1024
SPOOL_BYTES = 64 * 1024 * 1024  # larger archives spill to the function's /tmp while they are copied
NOT_A_FILE = "not a regular file"

Digest = str


def pinned_model_key(sha256: Digest) -> str:
    """The content-addressed key of a verified model archive."""
    return f"{PINNED_MODELS_PREFIX}{sha256}/model.tar.gz"


def pinned_model_url(bucket: str, model: ModelVersion) -> str:
    """The `s3://` URL every consumer of a version's archive uses (CreateModel, the champion channel)."""
    if not model.artifact_sha256:
        raise ArtifactIntegrityError(f"v{model.version} has no registered digest: its archive cannot be pinned")
    return f"s3://{bucket}/{pinned_model_key(model.artifact_sha256)}"


def bundle_key(recipe: str, sha256: Digest) -> str:
    """The content-addressed key of a published recipe bundle."""
    return f"recipes/{recipe}/sha256/{sha256}/sourcedir.tar.gz"


def bundle_record_key(recipe: str) -> str:
    """Where the publisher records the bundle it published (digest, key, VersionId)."""
    return f"recipes/{recipe}/{BUNDLE_RECORD_FILE}"


class BundleRecord(BaseModel):
    """`recipes/<name>/bundle.json`: what the publisher put, read by StartTraining."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    key: str
    version_id: str | None = None


# ------------------------------------------------------------------------------------------------------------------
# Hashing while reading
# ------------------------------------------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes (and optionally copies) every byte read through it."""

    def __init__(self, body: io.RawIOBase, copy: io.IOBase | None = None) -> None:
        self._body = body
        self._copy = copy
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._body.read(size) or b""
        self.digest.update(data)
        if self._copy is not None:
            self._copy.write(data)
        return data

    def drain(self) -> str:
        """Read what is left (tar padding, the gzip trailer) and return the whole stream's SHA-256."""
        while self.read(CHUNK_BYTES):
            pass
        return self.digest.hexdigest()


@dataclass(frozen=True)
class ArchiveDigest:
    sha256: Digest  # of the archive's bytes
    files: dict[str, Digest]  # member path (no leading "./") → SHA-256 of its content


def digest_archive(body: io.RawIOBase) -> ArchiveDigest:
    """The archive's SHA-256 and each member's, in one streamed pass (memory does not grow with the archive)."""
    reader = _Hashing(body)
    files: dict[str, Digest] = {}
    try:
        with tarfile.open(fileobj=reader, mode="r|gz") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if info.isdir():
                    continue
                extracted = tar.extractfile(info) if info.isfile() else None
                if extracted is None:
                    files[name] = NOT_A_FILE  # links and devices: the kit never writes one
                    continue
                member = hashlib.sha256()
                while chunk := extracted.read(CHUNK_BYTES):
                    member.update(chunk)
                files[name] = member.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArtifactIntegrityError(f"the model archive is not a readable .tar.gz ({exc})") from exc
    return ArchiveDigest(sha256=reader.drain(), files=files)


# ------------------------------------------------------------------------------------------------------------------
# F1: model archives
# ------------------------------------------------------------------------------------------------------------------


def register_artifact(model_data_url: str, output_data_url: str, storage: Storage) -> tuple[Digest, str | None]:
    """RegisterCandidate: (SHA-256, VersionId) of the archive, if its members are the files the job hashed.

    Raises ArtifactIntegrityError for an archive replaced since the job wrote it, or a job without a manifest.
    """
    bucket, key = split_s3_uri(model_data_url)
    info = storage.info(bucket, key)
    if info is None:
        raise NotFoundError(f"{model_data_url} does not exist")
    try:
        raw = storage.read_tar_member(output_data_url, MANIFEST_FILE, max_bytes=16 * 1024 * 1024)
        manifest = json.loads(raw)["files"]
    except (NotFoundError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactIntegrityError(
            f"the training job left no readable {MANIFEST_FILE} in {output_data_url} ({exc}): its archive cannot be "
            "checked against what the job produced, so it is not registered"
        ) from exc
    with storage.open(bucket, key, version_id=info.version_id) as body:
        archive = digest_archive(body)
    if archive.files != manifest:
        changed = sorted(
            name for name in set(archive.files) | set(manifest) if archive.files.get(name) != manifest.get(name)
        )
        raise ArtifactIntegrityError(
            f"{model_data_url} (version {info.version_id}) is not what the training job produced: "
            f"{len(changed)} file(s) differ from its {MANIFEST_FILE} ({', '.join(changed[:5])}). It was replaced "
            "after the job; it is not registered and the champion keeps serving."
        )
    return archive.sha256, info.version_id


def pin(model: ModelVersion, storage: Storage, bucket: str) -> str:
    """StartDeployment: the registered bytes at `models/sha256/<digest>/model.tar.gz`; returns its URL.

    An existing copy is used when it still hashes to the digest; otherwise the registered VersionId of the trained
    archive is copied there, hashed as it is read. Raises ArtifactIntegrityError when the bytes do not match.
    """
    url = pinned_model_url(bucket, model)
    digest = model.artifact_sha256
    assert digest is not None  # pinned_model_url refused a version without one
    key = pinned_model_key(digest)
    if storage.info(bucket, key) is not None:
        if storage.sha256(url) == digest:
            return url
        logger.error("pinned copy does not match its digest; copying again", extra={"version": model.version})
    if not model.model_data_url:
        raise ArtifactIntegrityError(f"v{model.version} has no model artifact to deploy")
    source_bucket, source_key = split_s3_uri(model.model_data_url)
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as copy:
        with storage.open(source_bucket, source_key, version_id=model.artifact_version_id) as body:
            reader = _Hashing(body, copy)
            actual = reader.drain()
        if actual != digest:
            version = model.artifact_version_id or "latest"
            raise ArtifactIntegrityError(
                f"refusing to deploy v{model.version}: its archive {model.model_data_url} (version {version}) has "
                f"SHA-256 {actual}, not the {digest} registered when it was evaluated. It was replaced after "
                "evaluation; the champion keeps serving. Restore the registered object version (the bucket is "
                "versioned) or retrain."
            )
        copy.seek(0)
        storage.put_checked(bucket, key, copy, sha256=digest)
    return url


def verify_pinned(model: ModelVersion, storage: Storage, bucket: str) -> str:
    """Batch Transform: the pinned copy the SageMaker model loads still hashes to the registered digest."""
    url = pinned_model_url(bucket, model)
    try:
        actual = storage.sha256(url)
    except NotFoundError as exc:
        raise ArtifactIntegrityError(f"v{model.version} has no pinned archive at {url}: deploy it first") from exc
    if actual != model.artifact_sha256:
        raise ArtifactIntegrityError(
            f"refusing to score with v{model.version}: {url} has SHA-256 {actual}, not the registered "
            f"{model.artifact_sha256}"
        )
    return url


def check_before_deploy(state: DeploymentState, registry: Registry, storage: Storage, bucket: str) -> str:
    """StartDeployment's first step: pin the version's verified archive, or refuse it (reason recorded)."""
    model = registry.get_model(state.request.version)
    try:
        if not model.artifact_sha256 and model.model_data_url:
            model = _record_legacy_digest(model, registry, storage)
        return pin(model, storage, bucket)
    except ArtifactIntegrityError as exc:
        logger.error("artifact digest mismatch", extra={"version": model.version, "reason": str(exc)})
        # The reason goes on the record; the status stays (a FAILED version could not be rolled back to once
        # the evaluated archive is restored).
        registry.update_model(model.version, failure_reason=str(exc))
        raise


def _record_legacy_digest(model: ModelVersion, registry: Registry, storage: Storage) -> ModelVersion:
    """A version registered before RegisterCandidate recorded digests: its archive as it is now, recorded once, so
    every later path (deploy, batch, champion channel, restart) runs these bytes and no others. Every version
    RegisterCandidate stores now has a digest (it refuses one it cannot check), so only such records reach here."""
    assert model.model_data_url is not None
    source_bucket, source_key = split_s3_uri(model.model_data_url)
    info = storage.info(source_bucket, source_key)
    if info is None:
        raise ArtifactIntegrityError(f"v{model.version}'s archive {model.model_data_url} does not exist")
    with storage.open(source_bucket, source_key, version_id=info.version_id) as body:
        digest = _Hashing(body).drain()
    logger.warning("no registered digest: recording the archive's current one", extra={"version": model.version})
    return registry.update_model(model.version, artifact_sha256=digest, artifact_version_id=info.version_id)


# ------------------------------------------------------------------------------------------------------------------
# F2: recipe bundles
# ------------------------------------------------------------------------------------------------------------------


def verified_bundle_url(storage: Storage, bucket: str, recipe: str) -> str:
    """StartTraining: the URL of the published bundle, once what is under its key hashes to the published digest."""
    record_key = bundle_record_key(recipe)
    try:
        record = BundleRecord.model_validate_json(storage.read(bucket, record_key, max_bytes=64 * 1024))
    except (NotFoundError, ValidationError) as exc:
        raise ArtifactIntegrityError(
            f"no readable s3://{bucket}/{record_key}: the recipe bundle was not published by the recipe publisher"
        ) from exc
    if record.key != bundle_key(recipe, record.sha256):
        raise ArtifactIntegrityError(f"{record_key} names {record.key}, not the bundle of digest {record.sha256}")
    # The current object, not the recorded version: CreateTrainingJob's sagemaker_submit_directory is a plain S3 URL,
    # so SageMaker downloads whatever is current under the key (an extra version written there would run).
    with storage.open(bucket, record.key) as body:
        actual = _Hashing(body).drain()
    if actual != record.sha256:
        raise ArtifactIntegrityError(
            f"refusing to train: the recipe bundle s3://{bucket}/{record.key} has SHA-256 {actual}, not the "
            f"{record.sha256} recorded when it was published. It was replaced; publish the recipe again."
        )
    return f"s3://{bucket}/{record.key}"
