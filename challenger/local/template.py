"""Read template.yaml as CloudFormation would, for the local cloud and the tests.

The local cloud provisions from the same template `sam deploy` ships: the functions (code folder,
handler, timeout, merged Globals + own environment), the state machines (definition file with its
`DefinitionSubstitutions` applied) and the names of the stateful resources. This module evaluates the
intrinsic functions the template uses (Ref, Fn::GetAtt, Fn::Sub, Fn::If/Equals/Not, Fn::Join, Fn::Select, Fn::Split)
against local physical names, which the caller may override once it has created a resource (a secret's
ARN, for instance, carries a random suffix).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")

# Types whose Ref is an ARN (the rest: a name or id).
_REF_IS_ARN = {
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
    "AWS::Serverless::LayerVersion",
    "AWS::IAM::Role",
}


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the template defines it."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; None: the unreserved pool


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: str


@dataclass
class LocalTemplate:
    """template.yaml resolved for one local stack."""

    stack_name: str = "challenger"
    parameters: Mapping[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account: str = "123456789012"
    path: Path = ROOT / "template.yaml"
    physical: dict[str, str] = field(default_factory=dict)  # logical id → name/ARN once created

    def __post_init__(self) -> None:
        parsed, problems = decode(str(self.path))
        if parsed is None:
            raise ValueError(f"{self.path} does not parse: {problems}")
        self.template: dict[str, Any] = dict(parsed)
        self.resources: dict[str, Any] = dict(self.template["Resources"])
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise ValueError(f"unknown template parameter(s): {', '.join(sorted(unknown))}")
        self.values: dict[str, str] = {
            name: str(self.parameters.get(name, spec.get("Default", ""))) for name, spec in declared.items()
        }
        self.values.update(
            {
                "AWS::StackName": self.stack_name,
                # A stack id's shape (…:stack/<name>/<uuid>); the uuid is stable for a name, as a local stack lives on.
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/"
                f"{uuid.uuid5(uuid.NAMESPACE_URL, self.stack_name)}",
                "AWS::Region": self.region,
                "AWS::AccountId": self.account,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    # Resources ------------------------------------------------------------------------------------
    def of_type(self, *types: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res["Type"] in types]

    def name(self, logical_id: str) -> str:
        """The resource's physical name: its explicit name property, else `<stack>-<logical id>` in lower case."""
        properties = self.resources[logical_id].get("Properties", {})
        for key in ("Name", "FunctionName", "TableName", "BucketName", "TopicName", "QueueName", "LayerName"):
            if key in properties:
                return str(self.resolve(properties[key]))
        generated = f"{self.stack_name}-{logical_id}"
        kind = self.resources[logical_id]["Type"]
        return generated.lower() if kind == "AWS::S3::Bucket" else generated

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.name(logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account}:"
        arns = {
            "AWS::Serverless::Function": prefix.format("lambda") + f"function:{name}",
            "AWS::Serverless::StateMachine": prefix.format("states") + f"stateMachine:{name}",
            "AWS::SNS::Topic": prefix.format("sns") + name,
            "AWS::SQS::Queue": prefix.format("sqs") + name,
            "AWS::DynamoDB::Table": prefix.format("dynamodb") + f"table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{self.account}:role/{name}",
            "AWS::SecretsManager::Secret": prefix.format("secretsmanager") + f"secret:{name}",
            "AWS::Serverless::LayerVersion": prefix.format("lambda") + f"layer:{name}:1",
            "AWS::Logs::LogGroup": prefix.format("logs") + f"log-group:{name}",
        }
        return arns.get(kind, prefix.format("local") + name)

    def ref(self, logical_id: str) -> str:
        if logical_id in self.values:
            return self.values[logical_id]
        if logical_id in self.physical:
            return self.physical[logical_id]
        if logical_id not in self.resources:
            raise KeyError(f"Ref to unknown parameter or resource {logical_id!r}")
        kind = self.resources[logical_id]["Type"]
        return self.arn(logical_id) if kind in _REF_IS_ARN else self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            if self.resources[logical_id]["Type"] in _REF_IS_ARN and logical_id in self.physical:
                return self.physical[logical_id]
            return self.arn(logical_id)
        if attribute in ("Name", "TopicName", "QueueName"):
            return self.name(logical_id)
        if attribute in ("DomainName", "RegionalDomainName"):  # CloudFront/S3 host names: nothing serves them here
            return f"{self.name(logical_id).lower()}.localhost"
        raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")

    # Intrinsics -----------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911, PLR0912 — one branch per intrinsic
        """Evaluate the intrinsic functions in a template value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((key, argument),) = value.items()
        match key:
            case "Ref":
                return None if argument == "AWS::NoValue" else self.ref(argument)
            case "Fn::GetAtt":
                logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(argument)
            case "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            case "Fn::FindInMap":
                table, key, attribute = self.resolve(argument)
                return self.template["Mappings"][table][key][attribute]
            case "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            case "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            case "Fn::Not":
                (inner,) = argument
                return not self.resolve(inner)
            case "Fn::Equals":
                left, right = self.resolve(argument)
                return str(left) == str(right)
            case "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            case "Condition":
                return self.condition(argument)
        return {key: self.resolve(argument)}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: str(self.resolve(item)) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return local[name]
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    # What the local cloud needs -------------------------------------------------------------------
    def functions(self) -> list[FunctionSpec]:
        """Every function with its Globals merged in, environment resolved."""
        globals_ = self.template.get("Globals", {}).get("Function", {})
        specs = []
        for logical_id in self.of_type("AWS::Serverless::Function"):
            properties = {**globals_, **self.resources[logical_id].get("Properties", {})}
            environment = {
                **globals_.get("Environment", {}).get("Variables", {}),
                **self.resources[logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {}),
            }
            reserved = self.resolve(properties.get("ReservedConcurrentExecutions"))  # AWS::NoValue resolves to None
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    name=self.name(logical_id),
                    code_dir=(self.path.parent / properties["CodeUri"]).resolve(),
                    handler=properties.get("Handler", "app.lambda_handler"),
                    timeout=int(properties.get("Timeout", 3)),
                    memory_size=int(properties.get("MemorySize", 128)),
                    environment={name: str(self.resolve(value)) for name, value in environment.items()},
                    reserved_concurrency=None if reserved is None else int(reserved),
                )
            )
        return specs

    def state_machines(self) -> list[StateMachineSpec]:
        """Each state machine's ASL with its DefinitionSubstitutions applied, as CloudFormation does."""
        specs = []
        for logical_id in self.of_type("AWS::Serverless::StateMachine"):
            properties = self.resources[logical_id]["Properties"]
            definition = (self.path.parent / properties["DefinitionUri"]).read_text()
            for name, value in properties.get("DefinitionSubstitutions", {}).items():
                definition = definition.replace("${" + name + "}", str(self.resolve(value)))
            leftover = _SUB_VARIABLE.findall(definition)
            if leftover:
                raise ValueError(f"{logical_id}: no DefinitionSubstitutions for {sorted(set(leftover))}")
            json.loads(definition)  # a substitution must leave valid JSON
            specs.append(StateMachineSpec(logical_id, self.name(logical_id), self.arn(logical_id), definition))
        return specs
