#!/usr/bin/env python3
"""Create the resources declared in template.yaml inside moto, and compute the functions' environment.

template.yaml is the single source of truth: nothing here names a table, queue or bucket.

    provision.py provision --endpoint http://127.0.0.1:4566 --prefix cc-dev [--env-out .dev/env] [--json]
    provision.py describe

`provision` is idempotent (existing resources are reused) and fast when everything exists. Physical names
are `<prefix>-<LogicalId>` (tables, queues, secrets, topics; `.fifo` appended for FIFO queues/topics),
lower-case `<prefix>-<logicalid>` for buckets, and KMS keys are found through `alias/<prefix>-<LogicalId>`.
Diagnostics go to stderr; with --json, stdout carries exactly one JSON object (the environment).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import string
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

LOCAL_ENV_BASE = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "APP_ENV": "local",
    "SERVER_TIMING": "true",
    # API.md §0.9/§10.3: local webhook receivers live on 127.0.0.1
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
}


def log(msg: str) -> None:
    print(f"provision: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------- template loading

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_Loader):  # type: ignore[misc, valid-type]
    """SafeLoader that understands CloudFormation short-form intrinsic functions."""


def _cfn_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - safe loader subclass
    if not isinstance(doc, dict) or "Resources" not in doc:
        raise SystemExit(f"provision: {path} is not a CloudFormation template")
    return doc


# --------------------------------------------------------------------------- intrinsic resolution


class Unresolvable(Exception):
    pass


class NoValue:
    """Marker for AWS::NoValue."""


class Resolver:
    def __init__(self, template: dict[str, Any], prefix: str) -> None:
        self.template = template
        self.prefix = prefix
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": prefix,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{prefix}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self.params = {
            name: spec.get("Default")
            for name, spec in (template.get("Parameters") or {}).items()
            if isinstance(spec, dict)
        }
        # logical id -> {"Ref": value, attr: value, ...}; filled by the provisioner
        self.state: dict[str, dict[str, Any]] = {}
        self._conditions: dict[str, bool] = {}

    # -- references
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NoValue
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            if self.params[name] is None:
                raise Unresolvable(f"parameter {name} has no Default")
            return self.params[name]
        if name in self.state and "Ref" in self.state[name]:
            return self.state[name]["Ref"]
        raise Unresolvable(f"Ref {name}")

    def getatt(self, name: str, attr: str) -> Any:
        if name in self.state and attr in self.state[name]:
            return self.state[name][attr]
        raise Unresolvable(f"GetAtt {name}.{attr}")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise Unresolvable(f"condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    # -- Fn::Sub
    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def repl(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return _scalar(self.resolve(variables[inner]))
            if "." in inner and not inner.startswith("AWS::"):
                resource, _, attr = inner.partition(".")
                return _scalar(self.getatt(resource, attr))
            return _scalar(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    # -- generic
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            out = [self.resolve(x) for x in node]
            return [x for x in out if x is not NoValue]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self.fn(key[4:], arg)
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not NoValue:
                out[k] = r
        return out

    def fn(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            resource, attr = arg[0], self.resolve(arg[1])
            return self.getatt(resource, attr)
        if name == "Sub":
            if isinstance(arg, list):
                return self.sub(arg[0], arg[1] if len(arg) > 1 else {})
            return self.sub(arg, {})
        if name == "Join":
            sep, items = arg
            return str(sep).join(_scalar(x) for x in self.resolve(items))
        if name == "Split":
            sep, text = arg
            return _scalar(self.resolve(text)).split(sep)
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if name == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return _scalar(a) == _scalar(b)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(x) for x in arg)
        if name == "Or":
            return any(self.resolve(x) for x in arg)
        if name == "GetAZs":
            return [f"{REGION}{z}" for z in "abcdef"]
        if name == "FindInMap":
            m, k1, k2 = (self.resolve(x) for x in arg)
            return self.template["Mappings"][m][k1][k2]
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if name == "Base64":
            import base64

            return base64.b64encode(_scalar(self.resolve(arg)).encode()).decode()
        raise Unresolvable(f"Fn::{name}")


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        raise Unresolvable("list or map used as a string")
    return str(value)


# --------------------------------------------------------------------------- provisioning


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _physical(prefix: str, logical_id: str) -> str:
    return f"{prefix}-{logical_id}"


def _bucket_name(prefix: str, logical_id: str) -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{prefix}-{logical_id}".lower())
    name = re.sub(r"-{2,}", "-", name).strip(".-")
    if len(name) < 3:
        name = (name + "-bucket")[:63]
    name = name[:63].strip(".-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        raise SystemExit(f"provision: cannot derive a valid bucket name from {prefix!r}/{logical_id!r}")
    return name


def _generate_secret(spec: dict[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    classes = []
    if not spec.get("ExcludeLowercase"):
        classes.append(string.ascii_lowercase)
    if not spec.get("ExcludeUppercase"):
        classes.append(string.ascii_uppercase)
    if not spec.get("ExcludeNumbers"):
        classes.append(string.digits)
    if not spec.get("ExcludePunctuation"):
        classes.append("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    if spec.get("IncludeSpace"):
        classes.append(" ")
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    classes = ["".join(c for c in cls if c not in excluded) for cls in classes]
    classes = [cls for cls in classes if cls]
    alphabet = "".join(classes)
    if not alphabet:
        raise SystemExit("provision: GenerateSecretString excludes every character")
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if not spec.get("RequireEachIncludedType", True) or length < len(classes):
            break
        if all(any(ch in cls for ch in value) for cls in classes):
            break
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template and key:
        doc = json.loads(template)
        doc[key] = value
        return json.dumps(doc)
    return value


def _queue_deps(props: dict[str, Any]) -> list[str]:
    redrive = props.get("RedrivePolicy")
    if not isinstance(redrive, dict):
        return []
    target = redrive.get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        ga = target["Fn::GetAtt"]
        return [ga.split(".")[0] if isinstance(ga, str) else ga[0]]
    return []


def _order_queues(queues: dict[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(lid: str) -> None:
        if lid in order:
            return
        if lid in visiting:
            raise SystemExit(f"provision: redrive cycle through queue {lid}")
        visiting.add(lid)
        for dep in _queue_deps(queues[lid]):
            if dep in queues:
                visit(dep)
        visiting.discard(lid)
        order.append(lid)

    for lid in queues:
        visit(lid)
    return order


class Provisioner:
    def __init__(self, template: dict[str, Any], endpoint: str, prefix: str) -> None:
        import boto3
        from botocore.config import Config

        self.template = template
        self.endpoint = endpoint
        self.prefix = prefix
        self.resolver = Resolver(template, prefix)
        self.session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
        )
        self.config = Config(
            connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
        )
        self._clients: dict[str, Any] = {}
        self.created: list[str] = []
        self.reused: list[str] = []
        # Variables naming resources served by the dev server itself (the WebSocket API).
        self.local_only: list[str] = []

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint, config=self.config
            )
        return self._clients[service]

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {
            lid: (res.get("Properties") or {})
            for lid, res in self.template["Resources"].items()
            if isinstance(res, dict) and res.get("Type") == rtype
        }

    def _props(self, raw: dict[str, Any], lid: str) -> dict[str, Any]:
        try:
            return self.resolver.resolve(raw)
        except Unresolvable as exc:
            raise SystemExit(f"provision: cannot resolve properties of {lid}: {exc}") from exc

    def run(self) -> None:
        for lid, raw in self.resources("AWS::KMS::Key").items():
            self.kms_key(lid, raw)
        for lid, raw in self.resources("AWS::SecretsManager::Secret").items():
            self.secret(lid, raw)
        for lid, raw in self.resources("AWS::DynamoDB::Table").items():
            self.table(lid, raw)
        for lid, raw in self.resources("AWS::S3::Bucket").items():
            self.bucket(lid, raw)
        queues = self.resources("AWS::SQS::Queue")
        for lid in _order_queues(queues):
            self.queue(lid, queues[lid])
        for lid, raw in self.resources("AWS::SNS::Topic").items():
            self.topic(lid, raw)
        # Functions are not created; give them their would-be names so env vars may refer to them.
        for rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            for lid in self.resources(rtype):
                name = _physical(self.prefix, lid)
                self.resolver.state[lid] = {
                    "Ref": name,
                    "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
                }

    # -- KMS
    def kms_key(self, lid: str, raw: dict[str, Any]) -> None:
        kms = self.client("kms")
        alias = f"alias/{_physical(self.prefix, lid)}"
        key_id = self._find_alias(alias)
        if key_id is None:
            props = self._props(raw, lid)
            key_id = kms.create_key(Description=str(props.get("Description", lid)))["KeyMetadata"]["KeyId"]
            try:
                kms.create_alias(AliasName=alias, TargetKeyId=key_id)
                self.created.append(f"kms {alias}")
            except Exception as exc:  # a concurrent run created it first
                if _error_code(exc) != "AlreadyExistsException":
                    raise
                kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
                key_id = self._find_alias(alias)
                self.reused.append(f"kms {alias}")
        else:
            self.reused.append(f"kms {alias}")
        self.resolver.state[lid] = {
            "Ref": key_id,
            "KeyId": key_id,
            "Arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}",
        }

    def _find_alias(self, alias: str) -> str | None:
        for page in self.client("kms").get_paginator("list_aliases").paginate():
            for entry in page.get("Aliases", []):
                if entry.get("AliasName") == alias and entry.get("TargetKeyId"):
                    return str(entry["TargetKeyId"])
        return None

    # -- Secrets Manager
    def secret(self, lid: str, raw: dict[str, Any]) -> None:
        sm = self.client("secretsmanager")
        name = _physical(self.prefix, lid)
        try:
            arn = sm.describe_secret(SecretId=name)["ARN"]
            self.reused.append(f"secret {name}")
        except Exception as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            props = self._props(raw, lid)
            if "GenerateSecretString" in props:
                value = _generate_secret(props["GenerateSecretString"])
            else:
                value = str(props.get("SecretString", ""))
            kwargs: dict[str, Any] = {"Name": name, "SecretString": value}
            if props.get("Description"):
                kwargs["Description"] = str(props["Description"])
            try:
                arn = sm.create_secret(**kwargs)["ARN"]
                self.created.append(f"secret {name}")
            except Exception as exc2:
                if _error_code(exc2) != "ResourceExistsException":
                    raise
                arn = sm.describe_secret(SecretId=name)["ARN"]
                self.reused.append(f"secret {name}")
        self.resolver.state[lid] = {"Ref": arn, "Id": arn}

    # -- DynamoDB
    def table(self, lid: str, raw: dict[str, Any]) -> None:
        ddb = self.client("dynamodb")
        name = _physical(self.prefix, lid)
        props = self._props(raw, lid)
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
            self.reused.append(f"table {name}")
        except Exception as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
            desc = self._create_table(name, props)
        ttl = props.get("TimeToLiveSpecification")
        if isinstance(ttl, dict) and str(ttl.get("Enabled")).lower() == "true":
            current = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        arn = desc.get("TableArn") or f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        state = {"Ref": name, "Arn": arn}
        if desc.get("LatestStreamArn"):
            state["StreamArn"] = desc["LatestStreamArn"]
        self.resolver.state[lid] = state

    def _create_table(self, name: str, props: dict[str, Any]) -> dict[str, Any]:
        ddb = self.client("dynamodb")
        billing = props.get("BillingMode", "PROVISIONED")
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _int_values(props.get("ProvisionedThroughput") or throughput)
        gsis = []
        for gsi in props.get("GlobalSecondaryIndexes") or []:
            entry = {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection") if k in gsi}
            if billing == "PROVISIONED":
                entry["ProvisionedThroughput"] = _int_values(gsi.get("ProvisionedThroughput") or throughput)
            gsis.append(entry)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        lsis = [
            {k: lsi[k] for k in ("IndexName", "KeySchema", "Projection") if k in lsi}
            for lsi in props.get("LocalSecondaryIndexes") or []
        ]
        if lsis:
            kwargs["LocalSecondaryIndexes"] = lsis
        stream = props.get("StreamSpecification")
        if isinstance(stream, dict) and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        try:
            desc = ddb.create_table(**kwargs)["TableDescription"]
            self.created.append(f"table {name}")
            return desc
        except Exception as exc:
            if _error_code(exc) != "ResourceInUseException":
                raise
            self.reused.append(f"table {name}")
            return ddb.describe_table(TableName=name)["Table"]

    # -- S3
    def bucket(self, lid: str, raw: dict[str, Any]) -> None:
        s3 = self.client("s3")
        name = _bucket_name(self.prefix, lid)
        try:
            s3.head_bucket(Bucket=name)
            self.reused.append(f"bucket {name}")
            created = False
        except Exception as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            try:
                s3.create_bucket(Bucket=name)
                self.created.append(f"bucket {name}")
            except Exception as exc2:
                if _error_code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
            created = True
        props = self._props(raw, lid)
        cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
        if cors:
            if not created:
                try:
                    s3.get_bucket_cors(Bucket=name)
                    cors = None  # already configured
                except Exception as exc:
                    if _error_code(exc) != "NoSuchCORSConfiguration":
                        raise
        if cors:
            rules = []
            for rule in cors:
                r: dict[str, Any] = {
                    k: rule[k] for k in ("AllowedMethods", "AllowedOrigins", "AllowedHeaders") if k in rule
                }
                if "ExposedHeaders" in rule:
                    r["ExposeHeaders"] = rule["ExposedHeaders"]
                if "MaxAge" in rule:
                    r["MaxAgeSeconds"] = int(rule["MaxAge"])
                rules.append(r)
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        self.resolver.state[lid] = {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }

    # -- SQS
    def queue(self, lid: str, raw: dict[str, Any]) -> None:
        sqs = self.client("sqs")
        props = self._props(raw, lid)
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = _physical(self.prefix, lid) + (".fifo" if fifo else "")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self.reused.append(f"queue {name}")
        except Exception as exc:
            if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise
            attributes: dict[str, str] = {}
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds",
                "MaximumMessageSize",
                "ContentBasedDeduplication",
                "DeduplicationScope",
                "FifoThroughputLimit",
            ):
                if key in props:
                    attributes[key] = _scalar(props[key])
            if fifo:
                attributes["FifoQueue"] = "true"
            redrive = props.get("RedrivePolicy")
            if isinstance(redrive, dict):
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                        "maxReceiveCount": int(redrive.get("maxReceiveCount", 5)),
                    }
                )
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.created.append(f"queue {name}")
        self.resolver.state[lid] = {
            "Ref": url,
            "QueueUrl": url,
            "QueueName": name,
            "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
        }

    # -- SNS
    def topic(self, lid: str, raw: dict[str, Any]) -> None:
        props = self._props(raw, lid)
        fifo = str(props.get("FifoTopic", "false")).lower() == "true"
        name = _physical(self.prefix, lid) + (".fifo" if fifo else "")
        attributes = {"FifoTopic": "true"} if fifo else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self.reused.append(f"topic {name}")  # create_topic is idempotent; we cannot tell which
        self.resolver.state[lid] = {"Ref": arn, "TopicArn": arn, "TopicName": name}

    # -- environment
    def environment(self) -> dict[str, str]:
        template = self.template
        sources: list[tuple[str, dict[str, Any]]] = []
        globals_env = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        sources.append(("Globals", globals_env))
        for rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            for lid, props in self.resources(rtype).items():
                variables = ((props.get("Environment") or {}).get("Variables")) or {}
                sources.append((lid, variables))
        env: dict[str, str] = {}
        origin: dict[str, str] = {}
        for source, variables in sources:
            for key, raw in variables.items():
                try:
                    value = self.resolver.resolve(raw)
                    if value is NoValue:
                        continue
                    value = _scalar(value)
                except Unresolvable as exc:
                    if any(str(exc).endswith(f" {lid}") or f" {lid}." in str(exc) for lid in self.resources("AWS::ApiGatewayV2::Api")):
                        # The WebSocket API has no moto counterpart: the dev server serves it
                        # (infra/local/src/gateway.rs) and sets these itself.
                        if key not in self.local_only:
                            self.local_only.append(key)
                        continue
                    log(f"warning: {key} (from {source}) skipped: cannot resolve {exc}")
                    continue
                if key in env and env[key] != value and source != "Globals" and origin[key] != "Globals":
                    log(f"warning: {key} differs between {origin[key]} and {source}; using {source}'s")
                env[key] = value
                origin[key] = source
        env.update(LOCAL_ENV_BASE)
        env["AWS_ENDPOINT_URL"] = self.endpoint
        env.update(schedule_env(self.template))
        return env


def schedule_env(template: dict[str, Any]) -> dict[str, str]:
    """SCHEDULE_<RULE>=<expression> for every scheduled function, so the dev server fires each
    EventBridge rule on the template's own timetable (rule = binary name without `worker-`:
    worker-maintenance -> SCHEDULE_MAINTENANCE='rate(5 minutes)')."""
    out: dict[str, str] = {}
    for binary, f in describe(template)["functions"].items():
        for schedule in f["schedules"]:
            if not schedule["enabled"] or not isinstance(schedule["expression"], str):
                continue
            rule = binary.removeprefix("worker-").upper().replace("-", "_")
            out[f"SCHEDULE_{rule}"] = schedule["expression"]
    return out


def _int_values(d: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in d.items()}


# --------------------------------------------------------------------------- describe


def _logical_of(target: Any) -> str | None:
    if isinstance(target, dict):
        if "Ref" in target:
            return str(target["Ref"])
        if "Fn::GetAtt" in target:
            ga = target["Fn::GetAtt"]
            return ga.split(".")[0] if isinstance(ga, str) else str(ga[0])
    return None


def describe(template: dict[str, Any]) -> dict[str, Any]:
    resolver = Resolver(template, "describe")
    resources = template["Resources"]
    functions: dict[str, Any] = {}
    for lid, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary") or lid
        props = res.get("Properties") or {}
        routes: list[list[str]] = []
        queues: list[str] = []
        schedules: list[dict[str, Any]] = []
        for event_name, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            if etype == "HttpApi":
                method = str(eprops.get("Method", "ANY")).upper()
                if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                    method = "ANY"
                routes.append([method, str(eprops.get("Path", "$default"))])
            elif etype == "SQS":
                q = _logical_of(eprops.get("Queue"))
                if q:
                    queues.append(q)
            elif etype in ("Schedule", "ScheduleV2"):
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                try:
                    expression = resolver.resolve(expression)
                    enabled = resolver.resolve(eprops.get("Enabled", True))
                    if "State" in eprops:
                        enabled = resolver.resolve(eprops["State"]) == "ENABLED"
                    payload = resolver.resolve(eprops.get("Input"))
                except Unresolvable:
                    enabled, payload = True, eprops.get("Input")
                schedules.append(
                    {
                        "event": event_name,
                        "expression": expression,
                        "timezone": eprops.get("ScheduleExpressionTimezone", "UTC"),
                        "enabled": bool(enabled) if not isinstance(enabled, str) else enabled.lower() == "true",
                        "input": payload,
                    }
                )
        functions[binary] = {"logical_id": lid, "routes": routes, "queues": queues, "schedules": schedules}

    queues_out: dict[str, Any] = {}
    for lid, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::SQS::Queue":
            continue
        props = res.get("Properties") or {}
        redrive = props.get("RedrivePolicy") if isinstance(props.get("RedrivePolicy"), dict) else None
        dlq = _logical_of(redrive.get("deadLetterTargetArn")) if redrive else None

        def num(value: Any, default: int | None) -> int | None:
            if value is None:
                return default
            try:
                return int(resolver.resolve(value))
            except (Unresolvable, TypeError, ValueError):
                return default

        queues_out[lid] = {
            "dlq": dlq,
            "visibility_timeout": num(props.get("VisibilityTimeout"), 30),
            "max_receive_count": num(redrive.get("maxReceiveCount"), None) if redrive else None,
        }
    return {"functions": functions, "queues": queues_out}


# --------------------------------------------------------------------------- CLI

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:,@%+=\-]*$")


def write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = ["# Generated by infra/local/provision.py from template.yaml; do not edit."]
    for key in sorted(env):
        value = env[key]
        if "\n" in value:
            raise SystemExit(f"provision: {key} contains a newline; cannot write it to an env file")
        if not _SAFE_VALUE.match(value):
            value = "'" + value.replace("'", "") + "'"
        lines.append(f"{key}={value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_endpoint(endpoint: str) -> None:
    try:
        urllib.request.urlopen(endpoint.rstrip("/") + "/moto-api/", timeout=3).close()
    except urllib.error.HTTPError:
        pass  # something answers; good enough
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(
            f"provision: nothing answers at {endpoint} ({exc}); start moto with `infra/local/moto.sh start`"
        ) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="default: repo template.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="create the template's resources in moto and compute the env")
    p.add_argument("--endpoint", required=True, help="moto URL, e.g. http://127.0.0.1:4566")
    p.add_argument("--prefix", required=True, help="physical name prefix, e.g. cc-dev")
    p.add_argument("--env-out", type=Path, help="write KEY=VALUE lines here")
    p.add_argument("--json", action="store_true", help="print the env as one JSON object on stdout")
    p.add_argument("--template", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    d = sub.add_parser("describe", help="print functions, routes, queues and schedules as JSON")
    d.add_argument("--template", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    template = load_template(args.template)
    if args.command == "describe":
        json.dump(describe(template), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,40}", args.prefix):
        raise SystemExit("provision: --prefix must be 1-41 letters, digits or dashes")
    started = time.monotonic()
    endpoint = args.endpoint.rstrip("/")
    check_endpoint(endpoint)
    prov = Provisioner(template, endpoint, args.prefix)
    prov.run()
    env = prov.environment()
    if args.env_out:
        write_env_file(args.env_out, env)
    if args.json:
        json.dump(env, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    log(
        f"prefix {args.prefix}: {len(prov.created)} created, {len(prov.reused)} reused "
        f"in {time.monotonic() - started:.2f}s"
        + (f" (created: {', '.join(prov.created)})" if prov.created else "")
    )
    if prov.local_only:
        log(f"{', '.join(prov.local_only)}: the WebSocket API is served by the dev server itself")
    return 0


if __name__ == "__main__":
    sys.exit(main())
