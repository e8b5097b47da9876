"""Account limits moto does not serve, answered on moto's port as AWS answers them (read-only).

moto 5.2.5 has Service Quotas for `vpc` only (`moto/servicequotas/models.py`), no Lambda `GetAccountSettings`, and
not the public SSM parameters Powertools publishes. `challenger doctor` reads those, so the local cloud answers:
- Service Quotas `ListServiceQuotas` for `sagemaker` and `lambda` (awsJson1_1; the quota names are AWS's, e.g.
  "ml.m5.large for spot training job usage");
- Lambda `GET /2016-08-19/account-settings/` (https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html);
- SSM `GetParameter` for `/aws/service/powertools/...` (https://docs.powertools.aws.dev/lambda/python/latest/#ssm-parameter);
everything else goes to moto. The values are the local cloud's own limits; `<state_dir>/quotas.json`
(`{"sagemaker": {"<QuotaName>": value}, "lambda": {"Concurrent executions": value}}`) changes them, as a granted
quota increase (or a small new account) would.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.c5.2xlarge")
_USAGES = ("training job usage", "spot training job usage", "transform job usage")
DEFAULT_QUOTAS: dict[str, dict[str, float]] = {
    # What a new account reports (issue 17): 10 across all serverless endpoints, Lambda's default 1,000.
    "sagemaker": {
        "Maximum total concurrency that can be allocated across all serverless endpoints": 10,
        **{f"{kind} for {usage}": 2 for kind in _INSTANCE_TYPES for usage in _USAGES},
    },
    "lambda": {"Concurrent executions": 1000},
}
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:18"


def account_limits(app: WSGIApplication, quotas_file: Path, region: str) -> WSGIApplication:
    """WSGI middleware in front of moto's server: the three reads above, from DEFAULT_QUOTAS and `quotas_file`."""

    def quotas() -> dict[str, dict[str, float]]:
        granted = json.loads(quotas_file.read_text()) if quotas_file.is_file() else {}
        return {service: {**limits, **granted.get(service, {})} for service, limits in DEFAULT_QUOTAS.items()}

    def answer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        path = str(environ.get("PATH_INFO", ""))
        document: Any = None
        if path.rstrip("/") == "/2016-08-19/account-settings":
            limit = quotas()["lambda"]["Concurrent executions"]
            document = {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": limit}}
        elif target.startswith(("ServiceQuotasV20190624.", "AmazonSSM.GetParameter")):
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            request = json.loads(body or b"{}")
            document = _quota_answer(target, request, quotas(), region)
            if document is None:  # not ours: moto answers (the body was read: hand it on)
                environ["wsgi.input"] = io.BytesIO(body)
        if document is None:
            return app(environ, start_response)
        data = json.dumps(document).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
        return [data]

    return answer


def _quota_answer(target: str, request: dict[str, Any], quotas: dict[str, dict[str, float]], region: str) -> Any:
    name = str(request.get("Name", ""))
    if target == "AmazonSSM.GetParameter" and name.startswith("/aws/service/powertools/python/"):
        value = POWERTOOLS_LAYER.format(region=region)
        return {"Parameter": {"Name": name, "Type": "String", "Value": value, "Version": 1}}
    service = request.get("ServiceCode")
    if target != "ServiceQuotasV20190624.ListServiceQuotas" or service not in quotas:
        return None  # moto's answer (its `vpc` quotas; NoSuchResourceException for the rest)
    limits = sorted(quotas[service].items())
    return {"Quotas": [{"ServiceCode": service, "QuotaName": n, "Value": float(v)} for n, v in limits]}
