"""IAM per role in the local cloud: the template's roles (as the SAM translator expands them) in moto's IAM, each
function, training job, endpoint and transform job acting as its own role through moto's STS, and moto's IAM access
control switched on. Who signs with what, and what moto 5.2.5 does not evaluate: docs/decisions/0008, "IAM per role".
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from challenger.local.lambda_runtime import check_moto_version
from challenger.local.private import write_private
from challenger.local.template import ROOT, LocalTemplate

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"  # the translator pins a pydantic the dev venv cannot share
ADMIN_ROLE = "challenger-local-admin"
CONTROL_KEY = ("local", "local", "local")  # cloud.CREDENTIALS: key id, secret, session token
ENGINE_USER = "challenger-local-stepfunctions"
ENGINE_KEY = ("ak", "sk")  # what moto's Step Functions engine signs with
# Services whose requests moto authorizes against the resource the call names; all others against "*".
RESOURCE_AWARE = frozenset({"s3", "sqs", "iam", "sts"})
# moto authorizes an API call by its *operation* name, which is not always the IAM action AWS checks: what an
# allowed IAM action also allows at moto (the operation AWS authorizes by that action). AWS: Lambda's Invoke is
# lambda:InvokeFunction; DynamoDB's transactions are authorized by the actions of the items they touch.
MOTO_OPERATIONS = {
    "lambda:InvokeFunction": ("lambda:Invoke",),
    "dynamodb:PutItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:UpdateItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:DeleteItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:ConditionCheckItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:GetItem": ("dynamodb:TransactGetItems",),
}
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Role:
    """One IAM role of the deployed stack, its intrinsics resolved."""

    logical_id: str
    name: str
    arn: str
    trust: dict[str, Any]
    policies: dict[str, dict[str, Any]]  # inline policy name → document


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "challenger" / "iam"


def translated(path: Path) -> dict[str, Any]:
    """The template as the SAM transform leaves it (cached by content: the translation takes about a second)."""
    text = path.read_bytes()
    cached = _cache_dir() / f"{hashlib.sha256(text).hexdigest()}.json"
    if cached.is_file():
        result: dict[str, Any] = json.loads(cached.read_text())
        return result
    if not SAM_PYTHON.is_file():
        raise RuntimeError(f"IAM roles need the SAM translator: {SAM_PYTHON} is missing (run `make tools`)")
    output = subprocess.run(  # noqa: S603 — our own interpreter and script
        [str(SAM_PYTHON), str(ROOT / "scripts" / "lint_translated_template.py"), "--json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},  # the translator wants one; the output has none
    ).stdout
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_private(cached, output)  # atomic: several processes may translate at once (xdist)
    result = json.loads(output)
    return result


def template_roles(template: LocalTemplate) -> dict[str, Role]:
    """Every AWS::IAM::Role of the translated template by logical id, with the local stack's names and ARNs."""
    resources = translated(template.path)["Resources"]
    resolver = copy.copy(template)  # shares names and physical ids; knows the generated resources too
    resolver.resources = {**resources, **template.resources}
    roles = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = resource["Properties"]
        name = str(resolver.resolve(properties["RoleName"])) if "RoleName" in properties else resolver.name(logical_id)
        roles[logical_id] = Role(
            logical_id=logical_id,
            name=name,
            arn=f"arn:aws:iam::{template.account}:role/{name}",
            trust=resolver.resolve(properties["AssumeRolePolicyDocument"]),
            policies={
                str(policy["PolicyName"]): resolver.resolve(policy["PolicyDocument"])
                for policy in properties.get("Policies", [])
            },
        )
    return roles


def function_roles(template: LocalTemplate) -> dict[str, str]:
    """Function or state machine logical id → its role's logical id (SAM's `<Id>Role`, or its `Role:`)."""
    resources = translated(template.path)["Resources"]
    found = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        role = properties.get("Role") or properties.get("RoleArn")
        if resource["Type"] in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine") and role:
            found[logical_id] = role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else role
    return found


def for_moto(document: Mapping[str, Any]) -> dict[str, Any]:
    """A policy as moto can evaluate it: statements on services moto authorizes against ``*`` get ``*``.

    A statement naming several services is split per service, so an S3 resource keeps its ARN.
    """
    statements = document["Statement"]
    out = []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action")
        if actions is None or "Resource" not in statement:
            out.append(statement)
            continue
        by_service: dict[str, list[str]] = {}
        for action in [actions] if isinstance(actions, str) else actions:
            for name in (action, *MOTO_OPERATIONS.get(action, ())):
                if name not in by_service.setdefault(name.split(":", 1)[0], []):
                    by_service[name.split(":", 1)[0]].append(name)
        for service, service_actions in by_service.items():
            aware = service in RESOURCE_AWARE or service == "*"
            out.append({**statement, "Action": service_actions, "Resource": statement["Resource"] if aware else "*"})
    # SAM's policy templates carry no Version (AWS then reads 2008-10-17: no policy variables); moto refuses that.
    return {"Version": "2012-10-17", **document, "Statement": out}


class LocalIam:
    """The template's roles and the local cloud's own identities, in the moto of this process."""

    def __init__(self, template: LocalTemplate, roles: Mapping[str, Role] | None = None) -> None:
        self.template = template
        self.roles = dict(roles if roles is not None else template_roles(template))
        self._assigned = function_roles(template)

    def _backends(self) -> tuple[Any, Any]:
        check_moto_version()  # the fixed keys are set on moto's IAM/STS models: written for moto 5.2.5 only
        from moto.iam.models import iam_backends  # noqa: PLC0415
        from moto.sts.models import sts_backends  # noqa: PLC0415

        account = self.template.account
        return iam_backends[account]["aws"], sts_backends[account]["aws"]

    def create(self) -> None:
        """Roles with their inline policies (as moto evaluates them), then the control and engine identities.

        The managed policies SAM attaches (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess) grant logs and
        X-Ray only, neither served here, and moto does not load AWS managed policies by default: not attached.
        """
        iam, sts = self._backends()
        admin = Role("Admin", ADMIN_ROLE, self.role_arn(ADMIN_ROLE), {"Statement": []}, {"admin": ADMIN_POLICY})
        for role in [*self.roles.values(), admin]:
            iam.create_role(role.name, json.dumps(role.trust), "/", None, "", [], None)
            for name, document in role.policies.items():
                iam.put_role_policy(role.name, name, json.dumps(for_moto(document)))
        session = sts.assume_role(self.template.region, "local-cloud", self.role_arn(ADMIN_ROLE), None, 43200, None)
        session.access_key_id, session.secret_access_key, session.session_token = CONTROL_KEY
        # The CLI and the local SageMaker sign with the same key, without a session token: an IAM user's key.
        iam.create_user(self.template.region, ADMIN_ROLE)
        iam.put_user_policy(ADMIN_ROLE, "admin", json.dumps(ADMIN_POLICY))
        key = iam.create_access_key(ADMIN_ROLE)
        key.access_key_id, key.secret_access_key = CONTROL_KEY[:2]
        iam.create_user(self.template.region, ENGINE_USER)
        for machine, role_id in self._assigned.items():
            if self.template.resources.get(machine, {}).get("Type") != "AWS::Serverless::StateMachine":
                continue
            for name, document in self.roles[role_id].policies.items():
                iam.put_user_policy(ENGINE_USER, f"{machine}-{name}", json.dumps(for_moto(document)))
        key = iam.create_access_key(ENGINE_USER)
        key.access_key_id, key.secret_access_key = ENGINE_KEY

    def target_role(self, target: str) -> str | None:
        """The role EventBridge starts a state machine target with (the rule target's `RoleArn`), if any."""
        rules = [r for r in translated(self.template.path)["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
        for entry in [entry for rule in rules for entry in rule["Properties"].get("Targets", [])]:
            role = entry.get("RoleArn")
            if entry.get("Arn") == {"Ref": target} and isinstance(role, dict) and "Fn::GetAtt" in role:
                return self.roles[role["Fn::GetAtt"][0]].arn
        return None

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.template.account}:role/{name}"

    def credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """What a Lambda sandbox or a SageMaker container gets for its role: AssumeRole through moto's STS, as the
        service principal does (in-process: moto cannot evaluate a service principal's trust)."""
        _, sts = self._backends()
        session = sts.assume_role(self.template.region, session_name[:64], role_arn, None, 43200, None)
        return {
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }

    def function_credentials(self) -> dict[str, dict[str, str]]:
        """Function name → its role's credentials, for every function of the template."""
        return {
            spec.name: self.credentials(self.roles[self._assigned[spec.logical_id]].arn, spec.name)
            for spec in self.template.functions()
        }


_active: list[LocalIam] = []  # the cloud whose moto enforces IAM in this process (none: standalone services)


def as_role(client: Any, role_arn: object, session_name: str) -> Any:
    """`client` (same service, endpoint, region and config) with the role's credentials, as SageMaker acts with a
    job's `RoleArn` or a model's `ExecutionRoleArn`; `client` itself where IAM is not enforced or there is no role."""
    if not _active or not role_arn:
        return client
    credentials = _active[-1].credentials(str(role_arn), session_name)
    return boto3.client(
        client.meta.service_model.service_name,
        endpoint_url=client.meta.endpoint_url,
        region_name=client.meta.region_name,
        config=client.meta.config,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


@contextlib.contextmanager
def enforced(moto_url: str, local_iam: LocalIam) -> Iterator[None]:
    """moto's IAM access control on from now (server mode: ``POST /moto-api/reset-auth``), off again on exit; the
    local SageMaker acts with its jobs' and models' roles meanwhile (``as_role``)."""
    endpoint = moto_url.rstrip("/") + "/moto-api/reset-auth"
    requests.post(endpoint, data=b"0", timeout=30).raise_for_status()
    _active.append(local_iam)
    try:
        yield
    finally:
        _active.remove(local_iam)
        requests.post(endpoint, data=b"inf", timeout=30).raise_for_status()
