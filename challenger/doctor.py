"""`challenger doctor`: read-only preflight of an account and region (before `sam deploy`) or of a deployed stack.

Each check reads through the AWS APIs (only Get*/List*/Describe* calls: :func:`read_only` refuses anything else
before it is signed) and answers pass / warn / fail with the fix. Clients come from an injected factory, so the
same checks run against AWS (the caller's credentials), the local cloud and moto in tests.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cfnlint.decode import decode
from pydantic import BaseModel, Field

from challenger_core import prices, sizing
from challenger_core.cost import idle_usd_per_month, usd

ROOT = Path(__file__).resolve().parents[1]
READ_ONLY_PREFIXES = ("Get", "List", "Describe")
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html: Lambda keeps at least 100
# concurrent executions unreserved; a reservation that would leave fewer fails (and with it the deploy).
LAMBDA_UNRESERVED_MINIMUM = 100
SERVERLESS_TOTAL = "Maximum total concurrency that can be allocated across all serverless endpoints"
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/3.37.0"  # as template.yaml's Globals
_IMAGE_REGION = re.compile(r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")

ClientFactory = Callable[[str], Any]


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 — a verdict, not a password
    WARN = "warn"
    FAIL = "fail"


class Check(BaseModel):
    """One preflight finding: what was checked, the verdict, what was seen and how to fix it."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""


class DoctorReport(BaseModel):
    region: str
    stack: str | None = None
    checks: list[Check] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when any check failed (the command then exits non-zero)."""
        return any(check.verdict is Verdict.FAIL for check in self.checks)


class DeployPlan(BaseModel):
    """What the stack asks of the account: the template's parameters as deployed or about to be."""

    region: str
    stack: str | None = None
    parameters: dict[str, str]
    # Where the template resolves the image itself: its FrameworkImageInRegion rule's regions (None: no such rule)
    image_regions: list[str] | None = None
    topic_arn: str | None = None  # the deployed stack's NotificationTopic
    data_bucket: str | None = None  # the deployed stack's DataBucket (where datasets are dropped)
    resource_types: list[str] = Field(default_factory=list)  # the template's, one per resource (idle cost)

    @property
    def deployed(self) -> bool:
        return self.topic_arn is not None


class ReadOnlyViolation(RuntimeError):
    """The doctor tried an operation that is not a Get/List/Describe."""


def read_only(client: Any) -> Any:
    """Make a boto3 client refuse, before signing, any operation that is not Get*/List*/Describe*."""

    def refuse(model: Any, **_: Any) -> None:
        if not model.name.startswith(READ_ONLY_PREFIXES):
            raise ReadOnlyViolation(f"challenger doctor is read-only: {model.name} refused")

    client.meta.events.register("before-call.*.*", refuse)
    return client


def template_plan(
    region: str, config_env: str | None = None, *, root: Path = ROOT, overrides: Mapping[str, str] | None = None
) -> DeployPlan:
    """The plan before a deploy: template.yaml's defaults, samconfig.toml's `[ENV.deploy.parameters]` overrides."""
    template = _template(root)
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    if config_env:
        config = tomllib.loads((root / "samconfig.toml").read_text())
        deploy = config.get(config_env, {}).get("deploy", {}).get("parameters")
        if deploy is None:
            raise ValueError(f"samconfig.toml has no [{config_env}.deploy.parameters]")
        for pair in deploy.get("parameter_overrides", []):
            name, _, value = pair.partition("=")
            parameters[name] = value.strip("\"'")
    parameters.update(overrides or {})
    return DeployPlan(
        region=region,
        parameters=parameters,
        image_regions=_image_regions(template),
        resource_types=_resource_types(template),
    )


def stack_plan(cloudformation: Any, stack: str, region: str, *, root: Path = ROOT) -> DeployPlan:
    """The plan of a deployed stack: its parameters and its notification topic (DescribeStacks)."""
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", "")) for p in described["Parameters"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    template = _template(root)
    return DeployPlan(
        region=region,
        stack=stack,
        parameters=parameters,
        image_regions=_image_regions(template),
        topic_arn=outputs.get("NotificationTopicArn"),
        data_bucket=outputs.get("DataBucketName"),
        resource_types=_resource_types(template),
    )


def diagnose(plan: DeployPlan, client: ClientFactory) -> DoctorReport:
    """Run every check; a check that cannot read what it needs warns rather than guesses."""
    clients: dict[str, Any] = {}

    def reader(service: str) -> Any:
        if service not in clients:
            clients[service] = read_only(client(service))
        return clients[service]

    quotas = _QuotaBook(reader)
    checks = [
        check_image(plan),
        _guarded("Lambda concurrency", lambda: check_lambda_concurrency(plan, reader("lambda"))),
        _guarded("serverless concurrency", lambda: check_serverless_concurrency(plan, quotas)),
        _guarded("training instances", lambda: check_training_quota(plan, quotas)),
        _guarded("batch transform instances", lambda: check_transform_quota(plan, quotas)),
        _guarded("email subscription", lambda: check_subscription(plan, reader("sns"))),
        _guarded("Powertools layer", lambda: check_powertools(plan, reader)),
        _guarded("CloudFront", lambda: check_cloudfront(reader("cloudfront"))),
        _guarded("API Gateway logging role", lambda: check_api_gateway_logging_role(plan, reader("apigateway"))),
        _guarded("training instance memory", lambda: check_training_memory(plan, reader("s3"))),
        check_idle_cost(plan),
    ]
    return DoctorReport(region=plan.region, stack=plan.stack, checks=checks)


def check_image(plan: DeployPlan) -> Check:
    """The framework image must live in the stack's own region: CreateTrainingJob refuses another region's ECR."""
    name = "framework image"
    uri = plan.parameters.get("TrainingImageUri", "")
    if uri:
        match = _IMAGE_REGION.match(uri)
        if match and match.group(1) != plan.region:
            return Check(
                name=name,
                verdict=Verdict.FAIL,
                detail=f"TrainingImageUri is {match.group(1)}'s image; SageMaker refuses a cross-region image",
                fix=f"deploy with TrainingImageUri set to {plan.region}'s sagemaker-scikit-learn:1.9-0-cpu-py3 "
                "(the account of your region in the sagemaker SDK's image_uri_config/sklearn.json)"
                + (", or leave it empty to use the template's table" if plan.image_regions is not None else ""),
            )
        return Check(name=name, verdict=Verdict.PASS, detail=f"{uri} (TrainingImageUri)")
    if plan.image_regions is None:
        return Check(name=name, verdict=Verdict.FAIL, detail="TrainingImageUri is empty", fix="set TrainingImageUri")
    if plan.region not in plan.image_regions:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=f"no scikit-learn 1.9-0 image in {plan.region} (the template's FrameworkImageInRegion rule "
            "refuses the deploy)",
            fix="deploy in a region the rule lists, or set TrainingImageUri to an image you host in this region",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=f"{plan.region} has the image (FrameworkImageInRegion)")


def check_lambda_concurrency(plan: DeployPlan, lambda_client: Any) -> Check:
    """The API's reservation must leave Lambda's 100 unreserved executions (GetAccountSettings)."""
    name = "Lambda concurrency"
    limits = lambda_client.get_account_settings()["AccountLimit"]
    total, unreserved = int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"])
    reserved = int(plan.parameters.get("ApiReservedConcurrency", "0") or 0)
    to_reserve = 0 if plan.deployed else reserved  # a deployed stack's reservation is already out of `unreserved`
    detail = f"account limit {total}, unreserved {unreserved}, ApiReservedConcurrency {reserved}"
    if to_reserve and unreserved - to_reserve < LAMBDA_UNRESERVED_MINIMUM:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=detail + f": reserving {to_reserve} would leave {unreserved - to_reserve} (< 100)",
            fix="deploy with ApiReservedConcurrency=0, or request a higher Lambda 'Concurrent executions' quota",
        )
    if total < LAMBDA_UNRESERVED_MINIMUM:
        return Check(
            name=name,
            verdict=Verdict.WARN,
            detail=detail + ": a new account's limit; the pipeline and the API share it",
            fix="request Lambda 'Concurrent executions' of 1,000 in Service Quotas",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=detail)


def check_serverless_concurrency(plan: DeployPlan, quotas: _QuotaBook) -> Check:
    """A blue/green update holds both configs' concurrency: MaxConcurrency × 2 must fit the account's total."""
    name = "serverless concurrency"
    wanted = 2 * int(plan.parameters.get("MaxConcurrency", "1"))
    quota = quotas.value("sagemaker", SERVERLESS_TOTAL)
    if quota is None:
        return Check(name=name, verdict=Verdict.WARN, detail=f"cannot read '{SERVERLESS_TOTAL}'", fix=_QUOTA_FIX)
    detail = f"MaxConcurrency × 2 = {wanted} (blue and green during an update), quota {quota:g}"
    if wanted > quota:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=detail,
            fix=f"deploy with MaxConcurrency={max(1, int(quota) // 2)} or request '{SERVERLESS_TOTAL}' ≥ {wanted}",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=detail + " (other serverless endpoints share it)")


def check_training_quota(plan: DeployPlan, quotas: _QuotaBook) -> Check:
    """A training job needs one instance of TrainingInstanceType (spot quota with UseSpotTraining)."""
    spot = plan.parameters.get("UseSpotTraining", "false") == "true"
    usage = "spot training job usage" if spot else "training job usage"
    return _instance_check("training instances", plan.parameters.get("TrainingInstanceType", ""), usage, quotas)


def check_transform_quota(plan: DeployPlan, quotas: _QuotaBook) -> Check:
    """`challenger batch score` runs a transform job on TrainingInstanceType (template: BATCH_INSTANCE_TYPE)."""
    found = _instance_check(
        "batch transform instances", plan.parameters.get("TrainingInstanceType", ""), "transform job usage", quotas
    )
    if found.verdict is Verdict.FAIL:  # batch scoring is optional: training and serving still work
        return found.model_copy(update={"verdict": Verdict.WARN})
    return found


def dataset_sizes(s3: Any, bucket: str) -> dict[str, int]:
    """Bytes of training data per dataset under ``incoming/``: ``train.csv`` or the parts under ``train/`` (markers
    and manifests starting with ``_`` are not data)."""
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="incoming/"):
        for item in page.get("Contents", []):
            parts = item["Key"].split("/")
            if len(parts) >= 3 and parts[2].startswith("train") and not parts[-1].startswith(("_", ".")):
                sizes[parts[1]] = sizes.get(parts[1], 0) + int(item["Size"])
    return sizes


def check_training_memory(plan: DeployPlan, s3: Any, *, root: Path = ROOT) -> Check:
    """Can TrainingInstanceType hold a training job on the largest dataset dropped so far (challenger_core.sizing:
    measured peak per byte, instance memory table), and if not, which instance type can."""
    name = "training instance memory"
    instance = plan.parameters.get("TrainingInstanceType", "")
    if not plan.data_bucket:
        return Check(name=name, verdict=Verdict.PASS, detail=f"{instance}: no data dropped yet (not deployed)")
    sizes = dataset_sizes(s3, plan.data_bucket)
    if not sizes:
        return Check(name=name, verdict=Verdict.PASS, detail=f"{instance}: no data under incoming/ yet")
    dataset, size = max(sizes.items(), key=lambda item: item[1])
    # A recipe whose train.py hands the kit fit_batches trains in chunks; otherwise every row is held as a dict.
    train_py = root / "recipes" / plan.parameters.get("Recipe", "") / "train.py"
    batches = train_py.is_file() and "fit_batches=" in train_py.read_text(encoding="utf-8")
    advice = sizing.advise(instance, size, batches=batches)
    detail = f"largest dataset '{dataset}': {size / 1e9:.2f} GB; {advice.message}"
    if advice.fits:
        return Check(name=name, verdict=Verdict.PASS, detail=detail)
    fix = f"deploy with TrainingInstanceType={advice.suggestion}" if advice.suggestion else None
    return Check(name=name, verdict=Verdict.WARN, detail=detail, fix=fix or "use a recipe with fit_batches")


def check_subscription(plan: DeployPlan, sns: Any) -> Check:
    """Results and approval links go by email: the subscription must be confirmed."""
    name = "email subscription"
    if plan.topic_arn is None:
        return Check(
            name=name,
            verdict=Verdict.WARN,
            detail="no stack yet",
            fix="after the deploy, confirm the email 'AWS Notification - Subscription Confirmation'",
        )
    emails = [
        s
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=plan.topic_arn)
        for s in page["Subscriptions"]
        if s["Protocol"] == "email"
    ]
    pending = [s["Endpoint"] for s in emails if s["SubscriptionArn"] == "PendingConfirmation"]
    if not emails or pending:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=f"pending confirmation: {', '.join(pending)}" if pending else "no email subscription",
            fix="open the 'Subscription Confirmation' email and click Confirm subscription (it expires in 3 days; "
            "then update the stack with NotificationEmail to send a new one)",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=", ".join(s["Endpoint"] for s in emails) + " confirmed")


def check_powertools(plan: DeployPlan, reader: ClientFactory) -> Check:
    """The template resolves Powertools' layer from a public SSM parameter, which some regions lack."""
    name = "Powertools layer"
    pinned = plan.parameters.get("PowertoolsLayerArn", "")
    try:
        if pinned:
            reader("lambda").get_layer_version_by_arn(Arn=pinned)
            return Check(name=name, verdict=Verdict.PASS, detail=f"{pinned} (PowertoolsLayerArn)")
        value = reader("ssm").get_parameter(Name=POWERTOOLS_PARAMETER)["Parameter"]["Value"]
    except ClientError as exc:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=f"{pinned or POWERTOOLS_PARAMETER}: {exc.response['Error'].get('Code')}",
            fix="set PowertoolsLayerArn to the Powertools v3 python3.13 arm64 layer of this region "
            "(https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer)",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=f"{POWERTOOLS_PARAMETER} → {value}")


def check_cloudfront(cloudfront: Any) -> Check:
    """The dashboard is served by CloudFront; an account that may not use it fails the deploy late."""
    try:
        cloudfront.list_distributions(MaxItems="1")
    except ClientError as exc:
        if exc.response["Error"].get("Code") not in _REFUSED:
            raise  # not a refusal (a signature the endpoint rejects, a throttle): _guarded warns
        return Check(
            name="CloudFront",
            verdict=Verdict.FAIL,
            detail=f"ListDistributions: {exc.response['Error'].get('Code')}: {exc.response['Error'].get('Message')}",
            fix="CloudFront must be allowed (IAM, SCP) and the account verified: ask AWS Support to verify it",
        )
    return Check(
        name="CloudFront",
        verdict=Verdict.PASS,
        detail="readable (a brand-new account may still need AWS Support to verify it before the first create)",
    )


def check_api_gateway_logging_role(plan: DeployPlan, apigateway: Any) -> Check:
    """The API's access logs are written with the account's API Gateway CloudWatch role (GetAccount).

    With ManageApiGatewayAccount=false the stack uses the role already set; where none is, API Gateway refuses a
    stage with access logging ("CloudWatch Logs role ARN must be set in account settings to enable logging"), so
    a deploy fails, and a deployed stack whose role went away (the stack that owned it was deleted) logs nothing.
    """
    name = "API Gateway logging role"
    role = apigateway.get_account().get("cloudwatchRoleArn")
    one_owner = "deploy one stack per account and region with ManageApiGatewayAccount=true"
    if plan.parameters.get("ManageApiGatewayAccount", "false") == "true":
        if role and not plan.deployed:
            return Check(
                name=name,
                verdict=Verdict.WARN,
                detail=f"the account already logs with {role}; this stack would replace it, and deleting the stack "
                "would take the role from every other API in the region",
                fix="deploy with ManageApiGatewayAccount=false: the role already set serves this stack too",
            )
        return Check(name=name, verdict=Verdict.PASS, detail="set by this stack (ManageApiGatewayAccount=true)")
    if role:
        return Check(name=name, verdict=Verdict.PASS, detail=f"{role} (already set in the account)")
    return Check(
        name=name,
        verdict=Verdict.WARN if plan.deployed else Verdict.FAIL,
        detail="the account has no API Gateway CloudWatch role and ManageApiGatewayAccount is false: "
        + (
            "the API's access logs are not delivered, and its next stage update is refused"
            if plan.deployed
            else "API Gateway refuses the stage's access logging, and the deploy fails"
        ),
        fix=f"{one_owner}, or set the role once: aws apigateway update-account --patch-operations "
        "op=replace,path=/cloudwatchRoleArn,value=<role with AmazonAPIGatewayPushToCloudWatchLogs>",
    )


def check_idle_cost(plan: DeployPlan) -> Check:
    """What the stack costs a month with nothing running (challenger_core.cost, docs/cost.md): said before a deploy."""
    idle = idle_usd_per_month(plan.resource_types)
    dashboard = idle_usd_per_month(plan.resource_types, free_dashboards=False)
    return Check(
        name="idle cost",
        verdict=Verdict.PASS,
        detail=f"about {usd(idle)} a month with nothing running ({usd(dashboard)} beyond an account's 3 free "
        f"dashboards), plus storage; {prices.PRICED_REGION} list prices of {prices.AS_OF}: docs/cost.md",
    )


def render(report: DoctorReport) -> str:
    """The report as the CLI prints it: one line per check, the fix under each warn or fail."""
    lines = [f"challenger doctor: {report.stack or 'before deploy'} in {report.region}"]
    for check in report.checks:
        lines.append(f"  {check.verdict.value.upper():4}  {check.name}: {check.detail}")
        if check.fix and check.verdict is not Verdict.PASS:
            lines.append(f"        fix: {check.fix}")
    failed = sum(check.verdict is Verdict.FAIL for check in report.checks)
    lines.append(f"{failed} check(s) failed" if failed else "no check failed")
    return "\n".join(lines)


_REFUSED = ("AccessDenied", "AccessDeniedException", "OptInRequired", "AccountNotVerified")
_QUOTA_FIX = "check Service Quotas → Amazon SageMaker in the console (servicequotas:ListServiceQuotas needed)"


class _QuotaBook:
    """Service Quotas values by name: the applied ones (ListServiceQuotas), else AWS's defaults."""

    def __init__(self, reader: ClientFactory) -> None:
        self.reader = reader
        self.cache: dict[str, dict[str, float]] = {}

    def value(self, service: str, quota_name: str) -> float | None:
        if service not in self.cache:
            self.cache[service] = {}
            client = self.reader("service-quotas")
            for operation in ("list_aws_default_service_quotas", "list_service_quotas"):  # applied ones win
                try:
                    for page in client.get_paginator(operation).paginate(ServiceCode=service):
                        self.cache[service].update({q["QuotaName"]: float(q["Value"]) for q in page["Quotas"]})
                except (ClientError, NotImplementedError):
                    continue
        return self.cache[service].get(quota_name)


def _instance_check(name: str, instance_type: str, usage: str, quotas: _QuotaBook) -> Check:
    quota_name = f"{instance_type} for {usage}"
    quota = quotas.value("sagemaker", quota_name)
    if quota is None:
        return Check(name=name, verdict=Verdict.WARN, detail=f"cannot read '{quota_name}'", fix=_QUOTA_FIX)
    if quota < 1:
        return Check(
            name=name,
            verdict=Verdict.FAIL,
            detail=f"'{quota_name}' is {quota:g}: the job would fail with ResourceLimitExceeded",
            fix=f"request '{quota_name}' ≥ 1 in Service Quotas, or deploy with another TrainingInstanceType",
        )
    return Check(name=name, verdict=Verdict.PASS, detail=f"'{quota_name}' is {quota:g}")


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check whose read is refused (AccessDenied, an API the region lacks) warns with the reason."""
    try:
        return check()
    except ClientError as exc:
        error = exc.response["Error"]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return Check(
            name=name,
            verdict=Verdict.WARN,
            detail=f"cannot read: {error.get('Code') or f'HTTP {status}'}: {error.get('Message') or 'no message'}",
            fix="run the doctor with an identity allowed to read it",
        )
    except BotoCoreError as exc:
        return Check(name=name, verdict=Verdict.WARN, detail=f"cannot read: {exc}")


def _template(root: Path) -> dict[str, Any]:
    parsed, problems = decode(str(root / "template.yaml"))
    if parsed is None:
        raise ValueError(f"template.yaml does not parse: {problems}")
    return dict(parsed)


def _resource_types(template: Mapping[str, Any]) -> list[str]:
    return [str(resource.get("Type")) for resource in template.get("Resources", {}).values()]


def _image_regions(template: Mapping[str, Any]) -> list[str] | None:
    """The regions the template's FrameworkImageInRegion rule allows with TrainingImageUri empty, if it has one.

    Not the FrameworkImage table's keys: the table also lists regions without the 1.9-0 image (me-south-1,
    GovCloud, ...), so that a TrainingImageUri given there still resolves the template; the rule refuses them.
    """
    rule = template.get("Rules", {}).get("FrameworkImageInRegion", {})
    for assertion in rule.get("Assertions", []):
        contains = assertion.get("Assert", {}).get("Fn::Contains")
        if isinstance(contains, list) and len(contains) == 2 and contains[1] == {"Ref": "AWS::Region"}:
            return [str(region) for region in contains[0]]
    return None
