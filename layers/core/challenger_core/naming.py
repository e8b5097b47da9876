"""The one naming function for every SageMaker resource the stack creates (training jobs, models, endpoint configs,
transform jobs), and the one IAM pattern that reaches them.

Every name is `<stack>-<uid>-<parts>`: the stack name lower-cased and cut to 20 characters (readable in the
console), the stack uid (the first 8 hex digits of the stack id, unique per stack incarnation) and the caller's
parts. The template allows `arn:...:<type>/*-${Uid}-*` for each type, the one IAM pattern
(tests/unit/test_sagemaker_names.py checks both against each other for stack names of 1-128 characters).

Why lower case: SageMaker lower-cases names in ARNs (an endpoint `LaBSE` is `endpoint/labse`), and IAM matches
resource ARNs case-sensitively, so a policy naming `${AWS::StackName}` of an upper-case stack never matches
(philschmid/cdk-samples#2; prometheus-community/yet-another-cloudwatch-exporter#1178). The uid is lower-case hex,
so the pattern matches whatever the stack is called. Why the length: CreateTrainingJob, CreateModel,
CreateEndpointConfig and CreateTransformJob all take names of at most 63 characters matching
`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` (SageMaker API Reference, e.g. CreateTransformJob `TransformJobName`),
while a CloudFormation stack name may have 128.
"""

from __future__ import annotations

import re

MAX_NAME = 63
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
STACK_CHARS = 20
# Where a file to score is uploaded in the data bucket (BatchPipeline's rule; the API's POST /batch writes there too).
BATCH_PREFIX = "batch/"


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def sagemaker_name(stack_name: str, stack_uid: str, *parts: str) -> str:
    """`<stack[:20]>-<uid>-<part>-<part>...`, lower-case, SageMaker-legal, at most 63 characters.

    Parts are lower-cased and anything but letters, digits and '-' becomes '-'; callers keep them short enough
    (a name that would pass 63 characters is a bug in the caller, not something to cut silently: the end of a
    name is what makes it unique).
    """
    stack = _clean(stack_name)[:STACK_CHARS].strip("-") or "challenger"
    tail = "-".join(part for part in (_clean(p) for p in parts) if part)
    name = "-".join(part for part in (stack, _clean(stack_uid), tail) if part)
    if len(name) > MAX_NAME or not SAGEMAKER_NAME.fullmatch(name):
        raise ValueError(f"not a SageMaker name (≤ {MAX_NAME} of [a-z0-9-]): {name!r}")
    return name


def endpoint_name(requested: str, stack_uid: str) -> str:
    """The serverless endpoint's name: `requested` (the EndpointName parameter, or the stack name when it is empty)
    when SageMaker can use it as its ARN spells it, else `<stack[:20]>-<uid>-endpoint` (`sagemaker_name`).

    Usable means a SageMaker name of at most 63 characters that is already lower case: the ARN then spells it as
    given, and the template's `endpoint/${AWS::StackName}` (or `endpoint/${EndpointName}`) matches it exactly, so
    the default stack "challenger" keeps the endpoint "challenger". A stack name SageMaker would refuse (over 63
    characters, a trailing '-') or spell differently in the ARN (upper case) gets the stack's SageMaker naming
    instead, reached by the template's `endpoint/*-${Uid}-*`; CloudFormation cannot lower-case or cut a string,
    so the template could not name the first choice for such a stack (tests/unit/test_sagemaker_names.py).
    """
    if len(requested) <= MAX_NAME and requested == requested.lower() and SAGEMAKER_NAME.fullmatch(requested):
        return requested
    return sagemaker_name(requested, stack_uid, "endpoint")
