"""Invariants of template.yaml, checked offline.

cfn-lint and `sam validate --lint` check that the template is well formed; these tests check
what it must mean. The template is read with cfn-lint's own YAML loader (it understands the
short-form tags, !Ref, !Sub, ...) and "deployed" by a small evaluator below: the parameters
are applied, the Fn::ForEach loops expanded the way CloudFormation expands them (the loop
variable interpolated in every string), the conditions and intrinsic functions evaluated, and
the resources whose condition is false dropped. Each test then looks at what CloudFormation
would create, in every subscription mode.

Run: .venv/bin/python -m unittest discover -s tests/template -v   (scripts/check-template.sh)
"""

from __future__ import annotations

import copy
import json
import re
import sys
import tomllib
import unittest
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
SAMCONFIG_PATH = ROOT / "samconfig.toml"

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "lambda-troubleshooter"
OWN_LOG_GROUP = f"/aws/lambda/{STACK}"

NO_VALUE = object()  # AWS::NoValue: the key or list item disappears


class RuleFailed(Exception):
    """A Rules assertion refused the parameters, as CloudFormation would before creating anything."""


def load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE_PATH))
    if matches or template is None:
        raise AssertionError(f"template.yaml does not parse: {matches}")
    return template


TEMPLATE = load_template()


# --------------------------------------------------------------------------------------------
# A small CloudFormation evaluator: enough of the language for this template, strict about
# anything it does not know (an unknown function fails the test instead of passing silently).
# --------------------------------------------------------------------------------------------


def substitute(node: Any, identifier: str, value: str) -> Any:
    """Fn::ForEach: ${id} and &{id} in every string (keys included), and {"Ref": id}."""
    if isinstance(node, str):
        stripped = re.sub(r"[^A-Za-z0-9]", "", value)
        return str(node).replace("${" + identifier + "}", value).replace("&{" + identifier + "}", stripped)
    if isinstance(node, dict):
        if len(node) == 1 and node.get("Ref") == identifier:
            return value
        return {substitute(k, identifier, value): substitute(v, identifier, value) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(item, identifier, value) for item in node]
    return node


class Stack:
    """One deployment of the template with the given parameter values."""

    def __init__(self, parameters: dict[str, Any] | None = None, stack_name: str = STACK) -> None:
        self.stack_name = stack_name
        self.params = self._parameter_values(parameters or {})
        self.check_rules()
        self.conditions_src = self._expand(dict(TEMPLATE.get("Conditions", {})))
        self.resources_src = self._expand(dict(TEMPLATE["Resources"]))
        self._conditions: dict[str, bool] = {}
        self.resources = {
            name: self._deploy_resource(name, resource)
            for name, resource in self.resources_src.items()
            if "Condition" not in resource or self.condition(str(resource["Condition"]))
        }

    # -- parameters, rules, loops ------------------------------------------------------------

    def _parameter_values(self, given: dict[str, Any]) -> dict[str, Any]:
        declared = TEMPLATE["Parameters"]
        unknown = set(given) - set(declared)
        if unknown:
            raise AssertionError(f"unknown parameters {unknown}")
        values = {}
        for name, spec in declared.items():
            raw = given.get(name, spec.get("Default"))
            if raw is None:
                raise AssertionError(f"parameter {name} has no default and no value")
            if "AllowedValues" in spec and str(raw) not in [str(v) for v in spec["AllowedValues"]]:
                raise AssertionError(f"{name}={raw!r} is not one of {spec['AllowedValues']}")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], str(raw)):
                raise AssertionError(f"{name}={raw!r} does not match {spec['AllowedPattern']}")
            if spec["Type"] == "CommaDelimitedList":
                # CloudFormation splits on commas and trims each member.
                raw = [part.strip() for part in str(raw).split(",")]
            values[name] = raw
        return values

    def check_rules(self) -> None:
        for name, rule in TEMPLATE.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.ev(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.ev(assertion["Assert"]):
                    raise RuleFailed(f"{name}: {assertion.get('AssertDescription', '')}")

    def _expand(self, section: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in section.items():
            if str(key).startswith("Fn::ForEach::"):
                identifier, collection, fragment = value
                for item in self.ev(collection):
                    for f_key, f_value in self._expand(substitute(fragment, identifier, item)).items():
                        if f_key in out:
                            raise AssertionError(f"Fn::ForEach makes {f_key} twice")
                        out[f_key] = f_value
            else:
                if key in out:
                    raise AssertionError(f"duplicate key {key}")
                out[key] = value
        return out

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.conditions_src:
                raise AssertionError(f"condition {name} is not defined")
            self._conditions[name] = bool(self.ev(self.conditions_src[name]))
        return self._conditions[name]

    # -- resources ------------------------------------------------------------------------

    def _deploy_resource(self, name: str, resource: dict[str, Any]) -> dict[str, Any]:
        properties = copy.deepcopy(dict(resource.get("Properties", {})))
        if resource["Type"] == "AWS::Serverless::Function":
            properties = {**TEMPLATE.get("Globals", {}).get("Function", {}), **properties}
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        for dependency in depends_on:
            if dependency not in self.resources_src:
                raise AssertionError(f"{name} depends on {dependency}, which does not exist")
        return {
            "Type": resource["Type"],
            "Properties": self.ev(properties),
            "DependsOn": depends_on,
            "Metadata": resource.get("Metadata", {}),
        }

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == type_name}

    def ref(self, name: str) -> Any:
        resource = self.resources_src.get(name)
        if resource is None:
            raise AssertionError(f"Ref to unknown {name}")
        if "Condition" in resource and not self.condition(str(resource["Condition"])):
            raise AssertionError(f"Ref to {name}, which this deployment does not create")
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Logs::LogGroup":
            return self.ev(props["LogGroupName"])
        if kind == "AWS::Serverless::Function":
            return self.ev(props["FunctionName"])
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.ev(props['TopicName'])}"
        return f"ref:{name}"

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources_src.get(name)
        if resource is None:
            raise AssertionError(f"GetAtt of unknown {name}")
        if "Condition" in resource and not self.condition(str(resource["Condition"])):
            raise AssertionError(f"GetAtt of {name}, which this deployment does not create")
        kind = resource["Type"]
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.ref(name)}:*"
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.ref(name)}"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return f"queue-{name}"
        service = kind.split("::")[1].lower()
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}/{attribute}"

    # -- intrinsic functions ----------------------------------------------------------------

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.ev(variables[name]))
            if name.startswith("AWS::") or name in self.params:
                return str(self.ev({"Ref": name}))
            if "." in name:
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def ev(self, node: Any) -> Any:  # noqa: C901 - one dispatch table
        if isinstance(node, list):
            values = [self.ev(item) for item in node]
            return [v for v in values if v is not NO_VALUE]
        if not isinstance(node, dict):
            return str(node) if isinstance(node, str) else node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                pseudo = {
                    "AWS::Region": REGION,
                    "AWS::AccountId": ACCOUNT,
                    "AWS::StackName": self.stack_name,
                    "AWS::Partition": "aws",
                }
                if arg in pseudo:
                    return pseudo[arg]
                if arg in self.params:
                    return self.params[arg]
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(str(name), str(attribute))
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self._sub(str(arg), {})
                return self._sub(str(arg[0]), dict(arg[1]))
            if key == "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(v) for v in self.ev(items))
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.ev(text)).split(str(delimiter))
            if key == "Fn::Select":
                index, items = arg
                return self.ev(items)[int(index)]
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.ev(if_true if self.condition(str(name)) else if_false)
            if key == "Fn::Equals":
                left, right = (self.ev(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.ev(arg[0])
            if key == "Fn::And":
                return all(self.ev(v) for v in arg)
            if key == "Fn::Or":
                return any(self.ev(v) for v in arg)
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Contains":
                items, value = arg
                return self.ev(value) in self.ev(items)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.ev(v) for v in arg)
                return self.ev(TEMPLATE["Mappings"][mapping][first][second])
            if key == "Fn::ToJsonString":
                return json.dumps(self.ev(arg), separators=(",", ":"))
            if key.startswith("Fn::"):
                raise AssertionError(f"the evaluator does not know {key}")
        out = {}
        for key, value in node.items():
            evaluated = self.ev(value)
            if evaluated is not NO_VALUE:
                out[str(key)] = evaluated
        return out


# --------------------------------------------------------------------------------------------
# Helpers over a deployment
# --------------------------------------------------------------------------------------------


def statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(stack: Stack) -> list[tuple[str, Any]]:
    """Every policy document the deployment creates, named by where it lives."""
    docs = []
    for name, r in stack.resources.items():
        p = r["Properties"]
        if r["Type"] == "AWS::IAM::Role":
            docs.append((f"{name} trust", p["AssumeRolePolicyDocument"]))
            docs += [(f"{name} {x['PolicyName']}", x["PolicyDocument"]) for x in p.get("Policies", [])]
        elif r["Type"] == "AWS::KMS::Key":
            docs.append((f"{name} key policy", p["KeyPolicy"]))
        elif r["Type"] == "AWS::Logs::Destination":
            docs.append((f"{name} destination policy", p["DestinationPolicy"]))
        elif r["Type"] in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
            docs.append((f"{name}", p["PolicyDocument"]))
    return docs


def topic_of(stack: Stack) -> str:
    env = stack.resources["Function"]["Properties"]["Environment"]["Variables"]
    return env["TOPIC_ARN"]


def selection_excludes(criteria: str) -> list[str]:
    match = re.fullmatch(r"LogGroupName NOT IN (\[.*\])", criteria)
    if not match:
        raise AssertionError(f"selection criteria {criteria!r} is not LogGroupName NOT IN [...]")
    return json.loads(match.group(1))


ALL_ON = {
    "SubscriptionMode": "Kinesis",
    "LogGroupNames": "/aws/lambda/orders-api",
    "SourceAccountIds": "111111111111,222222222222",
    "SourceOrganizationId": "o-abcdefghij",
    "AlertEmail": "oncall@example.com",
    "ReservedConcurrency": 5,
    "LogGroupKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
}

# Parameter sets covering every mode, with the own log group listed on purpose.
SCENARIOS: dict[str, dict[str, Any]] = {
    "log groups": {"LogGroupNames": "/aws/lambda/orders-api, /aws/lambda/billing"},
    "log groups, own listed": {"LogGroupNames": f"/aws/lambda/orders-api,{OWN_LOG_GROUP}"},
    "account": {"SubscriptionMode": "Account"},
    "account, own listed too": {
        "SubscriptionMode": "Account",
        "LogGroupNames": OWN_LOG_GROUP,
        "ExcludedLogGroupNames": "/aws/apigateway/access,/aws/lambda/noisy",
    },
    "kinesis": {"SubscriptionMode": "Kinesis"},
    "kinesis, own listed": {
        "SubscriptionMode": "Kinesis",
        "LogGroupNames": f"{OWN_LOG_GROUP},/aws/lambda/orders-api,",
        "SourceAccountIds": "111111111111",
    },
    "kinesis, organisation": {"SubscriptionMode": "Kinesis", "SourceOrganizationId": "o-abcdefghij"},
    "everything on": ALL_ON,
    "existing topic": {
        "LogGroupNames": "/aws/lambda/orders-api",
        "ExistingTopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
    },
    "aws managed key": {"LogGroupNames": "/aws/lambda/orders-api", "TopicKmsKey": "alias/aws/sns"},
    "customer key": {
        "LogGroupNames": "/aws/lambda/orders-api",
        "TopicKmsKey": "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    },
}


def deployments() -> list[tuple[str, Stack]]:
    return [(name, Stack(params)) for name, params in SCENARIOS.items()]


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


class OwnLogGroup(unittest.TestCase):
    """The function's own log group: created here, with retention, and never subscribed."""

    def test_own_log_group_is_created_with_retention_and_used_by_the_function(self) -> None:
        for stack_name in (STACK, "troubleshooter-prod"):
            stack = Stack({"LogGroupNames": "/aws/lambda/orders-api", "LogRetentionDays": 14}, stack_name)
            group = stack.resources["FunctionLogGroup"]["Properties"]
            self.assertEqual(group["LogGroupName"], f"/aws/lambda/{stack_name}")
            self.assertEqual(group["RetentionInDays"], 14)
            function = stack.resources["Function"]["Properties"]
            self.assertEqual(function["FunctionName"], stack_name)
            self.assertEqual(function["LoggingConfig"]["LogGroup"], f"/aws/lambda/{stack_name}")

    def test_no_mode_subscribes_the_own_log_group(self) -> None:
        for name, stack in deployments():
            with self.subTest(name):
                for logical, f in stack.of_type("AWS::Logs::SubscriptionFilter").items():
                    self.assertNotEqual(f["Properties"]["LogGroupName"], OWN_LOG_GROUP, logical)
                    self.assertNotEqual(f["Properties"]["LogGroupName"], "", logical)
                for logical, p in stack.of_type("AWS::Logs::AccountPolicy").items():
                    excluded = selection_excludes(p["Properties"]["SelectionCriteria"])
                    self.assertIn(OWN_LOG_GROUP, excluded, logical)

    def test_log_groups_mode_subscribes_every_listed_group_but_the_own(self) -> None:
        stack = Stack(SCENARIOS["log groups, own listed"])
        filters = stack.of_type("AWS::Logs::SubscriptionFilter").values()
        self.assertEqual([f["Properties"]["LogGroupName"] for f in filters], ["/aws/lambda/orders-api"])
        self.assertEqual(stack.of_type("AWS::Logs::AccountPolicy"), {})
        # Another stack name moves the own log group, and the guard moves with it.
        other = Stack({"LogGroupNames": "/aws/lambda/x,/aws/lambda/troubleshooter-prod"}, "troubleshooter-prod")
        filters = other.of_type("AWS::Logs::SubscriptionFilter").values()
        self.assertEqual([f["Properties"]["LogGroupName"] for f in filters], ["/aws/lambda/x"])

    def test_log_groups_mode_refuses_an_empty_list_or_entry(self) -> None:
        for names in ("", "/aws/lambda/a,,/aws/lambda/b", "/aws/lambda/a,"):
            with self.subTest(names=names), self.assertRaises(RuleFailed):
                Stack({"LogGroupNames": names})

    def test_account_mode_excludes_the_own_log_group_in_its_selection_criteria(self) -> None:
        for params in (SCENARIOS["account"], SCENARIOS["account, own listed too"]):
            stack = Stack(params)
            (policy,) = stack.of_type("AWS::Logs::AccountPolicy").values()
            props = policy["Properties"]
            self.assertEqual(props["PolicyType"], "SUBSCRIPTION_FILTER_POLICY")
            excluded = selection_excludes(props["SelectionCriteria"])
            self.assertEqual(excluded[0], OWN_LOG_GROUP)
            self.assertEqual(excluded[1:], [s.strip() for s in params.get("ExcludedLogGroupNames", "").split(",") if s])
            self.assertLessEqual(len(excluded), 50, "CloudWatch Logs accepts at most 50 names")
            self.assertEqual(stack.of_type("AWS::Logs::SubscriptionFilter"), {})
        # Structurally too: every branch of the criteria names the log group resource itself.
        criteria = TEMPLATE["Resources"]["AccountSubscriptionPolicy"]["Properties"]["SelectionCriteria"]
        _, with_exclusions, without = criteria["Fn::If"]
        self.assertIn('["${FunctionLogGroup}"', with_exclusions["Fn::Sub"][0])
        self.assertIn('["${FunctionLogGroup}"]', without["Fn::Sub"])

    def test_account_policy_document_is_valid_json_for_any_filter_pattern(self) -> None:
        pattern = '{ $.level = "ERROR" } || "Task timed out"'
        stack = Stack({"SubscriptionMode": "Account", "FilterPattern": pattern})
        (policy,) = stack.of_type("AWS::Logs::AccountPolicy").values()
        document = json.loads(policy["Properties"]["PolicyDocument"])
        self.assertEqual(document["FilterPattern"], pattern)
        self.assertEqual(document["DestinationArn"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}")
        self.assertIn("AccountInvokePermission", policy["DependsOn"])

    def test_kinesis_mode_never_subscribes_the_own_log_group(self) -> None:
        stack = Stack(SCENARIOS["kinesis, own listed"])
        filters = list(stack.of_type("AWS::Logs::SubscriptionFilter").values())
        self.assertEqual([f["Properties"]["LogGroupName"] for f in filters], ["/aws/lambda/orders-api"])
        stream_arn = stack.get_att("LogStream", "Arn")
        for f in filters:
            self.assertEqual(f["Properties"]["DestinationArn"], stream_arn, "Kinesis mode goes through the stream")
        self.assertEqual(stack.of_type("AWS::Logs::AccountPolicy"), {})
        self.assertEqual(
            [p for p in stack.of_type("AWS::Lambda::Permission").values() if p["Properties"]["Principal"] == "logs.amazonaws.com"],
            [],
            "in Kinesis mode CloudWatch Logs never invokes the function directly",
        )


class LeastPrivilege(unittest.TestCase):
    def test_no_policy_statement_has_a_wildcard_action(self) -> None:
        # Every Action in the template text, whichever branch of a condition it sits in...
        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "NotAction":
                        self.fail(f"{path}: NotAction grants everything else")
                    if key == "Action":
                        for action in as_list(value):
                            if isinstance(action, str):
                                self.assertNotIn("*", action, f"{path}.Action")
                    walk(value, f"{path}.{key}")
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, f"{path}[{i}]")

        walk(TEMPLATE, "template")
        # ...and in every policy document actually deployed (JSON strings included).
        for name, stack in deployments():
            for where, document in policy_documents(stack):
                for statement in statements(document):
                    for action in as_list(statement["Action"]):
                        self.assertNotIn("*", action, f"{name}: {where}")

    def test_the_function_publishes_only_to_the_topic(self) -> None:
        for name, stack in deployments():
            with self.subTest(name):
                role = stack.resources["FunctionRole"]["Properties"]
                publish = [
                    s
                    for p in role["Policies"]
                    for s in statements(p["PolicyDocument"])
                    if "sns:Publish" in as_list(s["Action"])
                ]
                self.assertEqual(len(publish), 1)
                self.assertEqual(publish[0]["Resource"], topic_of(stack))
                self.assertTrue(topic_of(stack).startswith("arn:aws:sns:"))
                self.assertNotIn("ManagedPolicyArns", role)

    def test_every_role_statement_names_its_resources(self) -> None:
        stack = Stack(ALL_ON)
        for where, document in policy_documents(stack):
            if "trust" in where or "key policy" in where or "destination" in where:
                continue  # resource policies: "*" there means the resource itself
            for statement in statements(document):
                for resource in as_list(statement["Resource"]):
                    self.assertNotEqual(resource, "*", where)

    def test_the_function_writes_only_its_own_log_group(self) -> None:
        stack = Stack(SCENARIOS["log groups"])
        role = stack.resources["FunctionRole"]["Properties"]
        # Writes; reading the subscribed log groups for context is the Enrichment tests' business.
        logs = [
            s
            for p in role["Policies"]
            for s in statements(p["PolicyDocument"])
            if str(as_list(s["Action"])[0]).startswith("logs:") and "logs:FilterLogEvents" not in as_list(s["Action"])
        ]
        self.assertEqual(len(logs), 1)
        self.assertEqual(logs[0]["Resource"], f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{OWN_LOG_GROUP}:*")
        self.assertNotIn("logs:CreateLogGroup", logs[0]["Action"])

    def test_logs_may_invoke_the_function_only_for_this_account(self) -> None:
        arn_prefix = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
        seen = 0
        for name, stack in deployments():
            for logical, permission in stack.of_type("AWS::Lambda::Permission").items():
                props = permission["Properties"]
                self.assertEqual(props["Principal"], "logs.amazonaws.com", f"{name}: {logical}")
                self.assertEqual(props["Action"], "lambda:InvokeFunction")
                self.assertEqual(props["SourceAccount"], ACCOUNT, f"{name}: {logical}")
                self.assertTrue(props["SourceArn"].startswith(arn_prefix), f"{name}: {logical}")
                seen += 1
        self.assertGreater(seen, 0)
        # In LogGroups mode, each permission names exactly one log group.
        stack = Stack(SCENARIOS["log groups"])
        arns = sorted(p["Properties"]["SourceArn"] for p in stack.of_type("AWS::Lambda::Permission").values())
        self.assertEqual(arns, [f"{arn_prefix}/aws/lambda/billing:*", f"{arn_prefix}/aws/lambda/orders-api:*"])
        for f in stack.of_type("AWS::Logs::SubscriptionFilter").values():
            self.assertEqual(len(f["DependsOn"]), 1, "a filter waits for its permission")
            self.assertIn(f["DependsOn"][0], stack.resources)

    def test_cross_account_delivery_is_limited_to_the_listed_accounts_and_organisation(self) -> None:
        stack = Stack(ALL_ON)
        destination = stack.resources["LogsDestination"]["Properties"]
        by_sid = {s["Sid"]: s for s in statements(destination["DestinationPolicy"])}
        self.assertEqual(by_sid["SourceAccounts"]["Principal"]["AWS"], ["111111111111", "222222222222"])
        self.assertEqual(
            by_sid["SourceOrganization"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "o-abcdefghij"
        )
        trust = statements(stack.resources["LogsToStreamRole"]["Properties"]["AssumeRolePolicyDocument"])
        for statement in trust:
            self.assertEqual(statement["Principal"], {"Service": "logs.amazonaws.com"})
            self.assertIn("Condition", statement, "the role is assumed only for known sources")
        self.assertEqual(
            trust[0]["Condition"]["StringLike"]["aws:SourceArn"],
            [f"arn:*:logs:*:{ACCOUNT}:*", "arn:*:logs:*:111111111111:*", "arn:*:logs:*:222222222222:*"],
        )
        # Without source accounts or organisation there is nothing to share.
        self.assertNotIn("LogsDestination", Stack(SCENARIOS["kinesis"]).resources)


class Failures(unittest.TestCase):
    def test_async_invocations_retry_then_go_to_the_encrypted_failure_queue(self) -> None:
        stack = Stack({"LogGroupNames": "/aws/lambda/a", "AsyncMaximumRetryAttempts": 1})
        config = stack.resources["Function"]["Properties"]["EventInvokeConfig"]
        self.assertEqual(config["MaximumRetryAttempts"], 1)
        on_failure = config["DestinationConfig"]["OnFailure"]
        self.assertEqual(on_failure, {"Type": "SQS", "Destination": stack.get_att("FailureQueue", "Arn")})
        queue = stack.resources["FailureQueue"]["Properties"]
        self.assertTrue(queue.get("SqsManagedSseEnabled") or queue.get("KmsMasterKeyId"), "the queue is encrypted")

    def test_kinesis_mapping_reports_item_failures_bisects_and_bounds_retries(self) -> None:
        stack = Stack(SCENARIOS["kinesis"])
        (mapping,) = stack.of_type("AWS::Lambda::EventSourceMapping").values()
        props = mapping["Properties"]
        self.assertEqual(props["EventSourceArn"], stack.get_att("LogStream", "Arn"))
        self.assertEqual(props["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertTrue(props["BisectBatchOnFunctionError"])
        self.assertTrue(0 <= props["MaximumRetryAttempts"] <= 10)
        self.assertGreater(props["MaximumRecordAgeInSeconds"], 0)
        self.assertEqual(props["DestinationConfig"]["OnFailure"]["Destination"], stack.get_att("FailureQueue", "Arn"))
        self.assertEqual(stack.resources["LogStream"]["Properties"]["StreamEncryption"]["EncryptionType"], "KMS")
        for other in ("log groups", "account"):
            self.assertEqual(Stack(SCENARIOS[other]).of_type("AWS::Lambda::EventSourceMapping"), {})

    def test_alarms_on_errors_and_the_failure_queue_notify_the_topic(self) -> None:
        for name, stack in deployments():
            with self.subTest(name):
                alarms = stack.of_type("AWS::CloudWatch::Alarm").values()
                metrics = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms}
                self.assertIn(("AWS/Lambda", "Errors"), metrics)
                self.assertIn(("AWS/SQS", "ApproximateNumberOfMessagesVisible"), metrics)
                for alarm in alarms:
                    self.assertEqual(alarm["Properties"]["AlarmActions"], [topic_of(stack)])
                errors = next(a for a in alarms if a["Properties"]["MetricName"] == "Errors")
                self.assertEqual(errors["Properties"]["Dimensions"], [{"Name": "FunctionName", "Value": STACK}])
                queue = next(a for a in alarms if a["Properties"]["Namespace"] == "AWS/SQS")
                self.assertEqual(
                    queue["Properties"]["Dimensions"][0]["Value"], stack.get_att("FailureQueue", "QueueName")
                )

    def test_alarms_can_publish_to_the_encrypted_topic(self) -> None:
        # CloudWatch alarms cannot use the AWS managed key aws/sns: the default creates a key
        # whose policy lets cloudwatch.amazonaws.com encrypt, and the function's role use it.
        stack = Stack(SCENARIOS["log groups"])
        topic = stack.resources["FindingsTopic"]["Properties"]
        self.assertEqual(topic["KmsMasterKeyId"], "ref:TopicKey")
        key_policy = statements(stack.resources["TopicKey"]["Properties"]["KeyPolicy"])
        cloudwatch = [s for s in key_policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        self.assertEqual(len(cloudwatch), 1)
        self.assertEqual(sorted(cloudwatch[0]["Action"]), ["kms:Decrypt", "kms:GenerateDataKey"])
        self.assertTrue(
            any("kms:PutKeyPolicy" in as_list(s["Action"]) for s in key_policy), "the account can always fix the policy"
        )
        role = stack.resources["FunctionRole"]["Properties"]
        kms = [s for p in role["Policies"] for s in statements(p["PolicyDocument"]) if "kms:GenerateDataKey" in as_list(s["Action"])]
        self.assertEqual([s["Resource"] for s in kms], [stack.get_att("TopicKey", "Arn")])

    def test_the_topic_is_encrypted_with_every_key_choice(self) -> None:
        managed = Stack(SCENARIOS["aws managed key"])
        self.assertEqual(managed.resources["FindingsTopic"]["Properties"]["KmsMasterKeyId"], "alias/aws/sns")
        self.assertNotIn("TopicKey", managed.resources)
        customer = Stack(SCENARIOS["customer key"])
        key_arn = SCENARIOS["customer key"]["TopicKmsKey"]
        self.assertEqual(customer.resources["FindingsTopic"]["Properties"]["KmsMasterKeyId"], key_arn)
        role = customer.resources["FunctionRole"]["Properties"]
        resources = [s["Resource"] for p in role["Policies"] for s in statements(p["PolicyDocument"])]
        self.assertIn(key_arn, resources)
        existing = Stack(SCENARIOS["existing topic"])
        self.assertNotIn("FindingsTopic", existing.resources)
        self.assertNotIn("TopicKey", existing.resources)
        self.assertEqual(topic_of(existing), SCENARIOS["existing topic"]["ExistingTopicArn"])


class SuppressionTable(unittest.TestCase):
    """The table the code reads and writes (src/aws/dynamodb): its keys, TTL attribute and the
    function's access, least privilege."""

    CODE = (ROOT / "src" / "aws" / "dynamodb" / "mod.rs").read_text()

    def test_the_table_has_the_keys_and_ttl_the_code_uses_and_costs_nothing_idle(self) -> None:
        for name, stack in deployments():
            with self.subTest(name):
                (table,) = stack.of_type("AWS::DynamoDB::Table").values()
                props = table["Properties"]
                self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
                keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
                self.assertEqual(keys, {"HASH": "pk", "RANGE": "sk"})
                self.assertEqual(props["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True})
                for attribute in ["pk", "sk", "expires_at"]:
                    self.assertIn(f'"{attribute}"', self.CODE, attribute)
                env = stack.resources["Function"]["Properties"]["Environment"]["Variables"]
                self.assertEqual(env["SUPPRESS_TABLE"], "ref:SuppressionTable")

    def test_the_function_may_only_read_update_and_query_its_table(self) -> None:
        stack = Stack(SCENARIOS["log groups"])
        role = stack.resources["FunctionRole"]["Properties"]
        dynamodb = [
            s for p in role["Policies"] for s in statements(p["PolicyDocument"])
            if any(str(a).startswith("dynamodb:") for a in as_list(s["Action"]))
        ]
        self.assertEqual(len(dynamodb), 1)
        self.assertEqual(sorted(dynamodb[0]["Action"]), ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"])
        self.assertEqual(dynamodb[0]["Resource"], stack.get_att("SuppressionTable", "Arn"))
        for call in ["update_item()", "get_item()", ".query()"]:
            self.assertIn(call, self.CODE, "the function's calls are the granted actions")

    def test_category_windows_reach_the_function(self) -> None:
        stack = Stack({"LogGroupNames": "/aws/lambda/a", "SuppressCategorySeconds": "out_of_memory=60,timeout=600"})
        env = stack.resources["Function"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["SUPPRESS_CATEGORY_SECONDS"], "out_of_memory=60,timeout=600")
        pattern = re.compile(TEMPLATE["Parameters"]["SuppressCategorySeconds"]["AllowedPattern"])
        for good in ["", "out_of_memory=60", "out_of_memory=60,timeout=600", "timeout=1, disk_full=2"]:
            self.assertTrue(pattern.fullmatch(good), good)
        for bad in ["oom", "timeout=", "=5", "timeout=5;"]:
            self.assertIsNone(pattern.fullmatch(bad), bad)


class Enrichment(unittest.TestCase):
    """ENRICH_CONTEXT reads the subscribed log groups only (src/aws/logs, src/enrich)."""

    @staticmethod
    def reads(stack: Stack) -> list[str]:
        role = stack.resources["FunctionRole"]["Properties"]
        return [
            resource
            for p in role["Policies"]
            for s in statements(p["PolicyDocument"])
            if "logs:FilterLogEvents" in as_list(s["Action"])
            for resource in as_list(s["Resource"])
        ]

    def test_listed_log_groups_are_read_by_name_and_nothing_else(self) -> None:
        stack = Stack(SCENARIOS["log groups"])
        reads = self.reads(stack)
        self.assertEqual(len(reads), 2, reads)
        names = sorted(re.fullmatch(r"arn:aws:logs:[^:]+:[^:]+:log-group:(.+):\*", r).group(1).strip() for r in reads)
        self.assertEqual(names, ["/aws/lambda/billing", "/aws/lambda/orders-api"])
        self.assertEqual(stack.resources["Function"]["Properties"]["Environment"]["Variables"]["ENRICH_CONTEXT"], "on")

    def test_account_mode_reads_the_accounts_log_groups_and_kinesis_mode_none(self) -> None:
        self.assertEqual(self.reads(Stack(SCENARIOS["account"])), [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"])
        self.assertEqual(self.reads(Stack(SCENARIOS["kinesis"])), [])

    def test_off_grants_no_read(self) -> None:
        for mode in [{"LogGroupNames": "/aws/lambda/a"}, {"SubscriptionMode": "Account"}]:
            stack = Stack({**mode, "EnrichContext": "off"})
            self.assertEqual(self.reads(stack), [])
            self.assertEqual(stack.resources["Function"]["Properties"]["Environment"]["Variables"]["ENRICH_CONTEXT"], "off")


class FunctionAndTopic(unittest.TestCase):
    def test_function_runtime_build_and_configuration(self) -> None:
        stack = Stack(
            {
                "LogGroupNames": "/aws/lambda/a",
                "MinSeverity": "high",
                "DisabledRules": "lambda-memory-pressure",
                "SuppressSeconds": 600,
            }
        )
        function = stack.resources["Function"]
        props = function["Properties"]
        self.assertEqual(props["Runtime"], "provided.al2023")
        self.assertEqual(props["Handler"], "bootstrap")
        self.assertEqual(props["Architectures"], ["arm64"])
        self.assertEqual(props["MemorySize"], 128)
        self.assertEqual(props["LoggingConfig"]["LogFormat"], "JSON")
        self.assertNotIn("ReservedConcurrentExecutions", props)
        self.assertEqual(function["Metadata"]["BuildMethod"], "rust-cargolambda")
        self.assertEqual(function["Metadata"]["BuildProperties"]["Binary"], "lambda-troubleshooter")
        env = props["Environment"]["Variables"]
        self.assertEqual(env["MIN_SEVERITY"], "high")
        self.assertEqual(env["DISABLED_RULES"], "lambda-memory-pressure")
        self.assertEqual(str(env["SUPPRESS_SECONDS"]), "600")
        self.assertEqual(env["TOPIC_ARN"], f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-findings")
        self.assertNotIn("AWS_LAMBDA_LOG_GROUP_NAME", env, "Lambda sets it itself")
        x86 = Stack({"LogGroupNames": "/aws/lambda/a", "Architecture": "x86_64", "ReservedConcurrency": 3})
        self.assertEqual(x86.resources["Function"]["Properties"]["Architectures"], ["x86_64"])
        self.assertEqual(x86.resources["Function"]["Properties"]["ReservedConcurrentExecutions"], 3)

    def test_timeout_covers_a_batch_and_publish_retries(self) -> None:
        props = Stack(SCENARIOS["log groups"]).resources["Function"]["Properties"]
        self.assertGreaterEqual(props["Timeout"], 30)
        self.assertLessEqual(props["Timeout"], 900)

    def test_email_subscription_filters_by_severity_but_lets_alarms_through(self) -> None:
        stack = Stack({"LogGroupNames": "/aws/lambda/a", "AlertEmail": "oncall@example.com", "EmailMinSeverity": "high"})
        (subscription,) = stack.of_type("AWS::SNS::Subscription").values()
        props = subscription["Properties"]
        self.assertEqual((props["Protocol"], props["Endpoint"]), ("email", "oncall@example.com"))
        self.assertEqual(props["TopicArn"], topic_of(stack))
        self.assertEqual(
            props["FilterPolicy"], {"$or": [{"severity": ["critical", "high"]}, {"severity": [{"exists": False}]}]}
        )
        self.assertEqual(Stack(SCENARIOS["log groups"]).of_type("AWS::SNS::Subscription"), {})

    def test_outputs_give_the_topic_and_the_chatbot_steps(self) -> None:
        outputs = TEMPLATE["Outputs"]
        self.assertIn("TopicArn", outputs)
        self.assertIn("Chatbot", json.dumps(outputs["ChatbotSlackSetup"]))

    def test_loop_resources_do_not_start_with_their_condition(self) -> None:
        # CloudFormation fails a Fn::ForEach fragment whose first key is Condition (AWS docs,
        # "Examples of Fn::ForEach in the Conditions section").
        for key, value in TEMPLATE["Resources"].items():
            if key.startswith("Fn::ForEach::"):
                for logical, resource in value[2].items():
                    self.assertNotEqual(next(iter(resource)), "Condition", logical)
                    self.assertIn("Condition", resource, logical)

    def test_every_condition_is_used(self) -> None:
        # cfn-lint's W8001 is off (it cannot follow the loops; see the template's Metadata).
        text = TEMPLATE_PATH.read_text()
        for name in TEMPLATE["Conditions"]:
            if name.startswith("Fn::ForEach::"):
                for key in TEMPLATE["Conditions"][name][2]:
                    self.assertIn(f"Condition: {key}", text, key)
                continue
            uses = len(re.findall(rf"(Condition:? {name}\b|\[{name},|- {name}$|If\s*\[\s*{name}\b)", text, re.M))
            self.assertGreater(uses, 0, f"condition {name} is never used")


# --------------------------------------------------------------------------------------------
# Metrics and dashboard: the names in the template are the names the code emits
# --------------------------------------------------------------------------------------------

METRICS_RS = ROOT / "src" / "report" / "metrics.rs"
HANDLER_RS = ROOT / "src" / "handler" / "delivery.rs"


def emitted_names() -> tuple[str, set[str], set[str]]:
    """NAMESPACE, METRIC_NAMES and DIMENSION_NAMES as src/report/metrics.rs declares them."""
    text = METRICS_RS.read_text()
    strings = dict(re.findall(r'^pub const ([A-Z_]+): &str = "([^"]+)";', text, re.M))

    def array(name: str) -> set[str]:
        match = re.search(rf"^pub const {name}: \[&str; (\d+)\] = \[([^\]]*)\];", text, re.M)
        if not match:
            raise AssertionError(f"{METRICS_RS} declares no {name}")
        members = re.findall(r"[A-Z_]+", match.group(2))
        if len(members) != int(match.group(1)):
            raise AssertionError(f"cannot read {name} from {METRICS_RS}")
        return {strings[m] for m in members}

    return strings["NAMESPACE"], array("METRIC_NAMES"), array("DIMENSION_NAMES")


def logged_finding_fields() -> set[str]:
    """The fields of the one INFO "finding" line per finding (src/handler/delivery.rs, log_findings)."""
    text = HANDLER_RS.read_text()
    body = text[text.index("fn log_findings(") :]
    call = body[body.index("tracing::info!(") : body.index('"finding"')]
    return set(re.findall(r"^\s+(\w+)(?:\s*=|,\s*$)", call, re.M)) | {"message"}


SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}([^']*)'")


def metric_references(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric a metric widget graphs."""
    found = []
    for row in widget["properties"]["metrics"]:
        if isinstance(row[0], dict):
            for schema, terms in SEARCH.findall(row[0]["expression"]):
                namespace, *dimension_names = [part.strip() for part in schema.split(",")]
                values = dict(re.findall(r'(\w+)="([^"]*)"', terms))
                name = values.pop("MetricName")
                if set(values) - set(dimension_names):
                    raise AssertionError(f"{row}: filters on a dimension outside its schema")
                found.append((namespace, name, {d: values.get(d, "*") for d in dimension_names}))
            if not SEARCH.search(row[0]["expression"]):
                raise AssertionError(f"an expression this test cannot read: {row}")
        else:
            namespace, name, *pairs = [item for item in row if not isinstance(item, dict)]
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2]))))
    return found


def dashboard_body(stack: Stack) -> dict[str, Any]:
    return json.loads(stack.resources["Dashboard"]["Properties"]["DashboardBody"])


class MetricsAndDashboard(unittest.TestCase):
    def test_the_dashboard_graphs_only_metrics_the_function_emits(self) -> None:
        namespace, metric_names, dimension_names = emitted_names()
        self.assertEqual(namespace, "LambdaTroubleshooter")
        for name, stack in deployments():
            with self.subTest(name):
                widgets = dashboard_body(stack)["widgets"]
                graphed: set[str] = set()
                for widget in (w for w in widgets if w["type"] == "metric"):
                    self.assertEqual(widget["properties"]["region"], REGION)
                    for ns, metric, dimensions in metric_references(widget):
                        self.assertEqual(ns, namespace, widget["properties"]["title"])
                        self.assertIn(metric, metric_names, widget["properties"]["title"])
                        self.assertLessEqual(set(dimensions), dimension_names, widget["properties"]["title"])
                        # This stack's function only, never another stack's in the account.
                        self.assertEqual(dimensions.get("Troubleshooter"), STACK, widget["properties"]["title"])
                        graphed.add(metric)
                self.assertEqual(graphed, metric_names, "every metric the function emits is on the dashboard")

    def test_findings_are_graphed_by_category_and_by_severity(self) -> None:
        widgets = dashboard_body(Stack(SCENARIOS["log groups"]))["widgets"]
        by_title = {w["properties"].get("title"): w for w in widgets}
        for title in ("Findings by category and severity", "Occurrences (log events) by category and severity"):
            (reference,) = metric_references(by_title[title])
            self.assertEqual(set(reference[2]), {"Troubleshooter", "Category", "Severity"}, title)
        severities = [ref[2]["Severity"] for ref in metric_references(by_title["Findings by severity"])]
        self.assertEqual(severities, ["critical", "high", "medium", "low"])

    def test_logs_insights_widgets_query_the_functions_own_finding_lines(self) -> None:
        fields = logged_finding_fields()
        self.assertLessEqual({"rule_id", "function", "severity", "summary", "count", "delivery"}, fields)
        stack = Stack(SCENARIOS["account"])
        logs = [w for w in dashboard_body(stack)["widgets"] if w["type"] == "log"]
        titles = {w["properties"]["title"] for w in logs}
        self.assertEqual(titles, {"Top functions by findings", "Top rules by findings", "Latest critical findings"})
        for widget in logs:
            query = widget["properties"]["query"]
            self.assertTrue(query.startswith(f"SOURCE '{OWN_LOG_GROUP}' |"), query)
            self.assertIn("filter fields.message = 'finding'", query)
            used = set(re.findall(r"\bfields\.(\w+)", query))
            self.assertLessEqual(used, fields, f"{widget['properties']['title']} queries fields the function does not log")
        latest = next(w for w in logs if w["properties"]["title"] == "Latest critical findings")
        self.assertIn("fields.severity = 'critical'", latest["properties"]["query"])
        self.assertIn("fields.summary", latest["properties"]["query"])

    def test_widgets_fit_the_grid_without_overlapping(self) -> None:
        widgets = dashboard_body(Stack(SCENARIOS["kinesis"]))["widgets"]
        cells: set[tuple[int, int]] = set()
        for widget in widgets:
            self.assertLessEqual(widget["x"] + widget["width"], 24, widget)
            for x in range(widget["x"], widget["x"] + widget["width"]):
                for y in range(widget["y"], widget["y"] + widget["height"]):
                    self.assertNotIn((x, y), cells, widget)
                    cells.add((x, y))

    def test_create_dashboard_false_leaves_it_and_its_url_out(self) -> None:
        with_it = Stack(SCENARIOS["log groups"])
        self.assertEqual(with_it.resources["Dashboard"]["Properties"]["DashboardName"], f"{STACK}-{REGION}")
        output = TEMPLATE["Outputs"]["DashboardUrl"]
        self.assertEqual(output["Condition"], "IncludeDashboard")
        self.assertTrue(with_it.condition("IncludeDashboard"))
        self.assertEqual(
            with_it.ev(output["Value"]),
            f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/ref:Dashboard",
        )
        without = Stack({**SCENARIOS["log groups"], "CreateDashboard": "false"})
        self.assertNotIn("Dashboard", without.resources)
        self.assertFalse(without.condition("IncludeDashboard"))

    def test_decode_errors_and_publish_failures_alarm_to_the_topic(self) -> None:
        namespace, metric_names, _ = emitted_names()
        for name, stack in deployments():
            with self.subTest(name):
                alarms = {
                    a["Properties"]["MetricName"]: a["Properties"]
                    for a in stack.of_type("AWS::CloudWatch::Alarm").values()
                    if a["Properties"]["Namespace"] == namespace
                }
                self.assertEqual(set(alarms), {"DecodeErrors", "PublishFailures"})
                self.assertLessEqual(set(alarms), metric_names)
                for alarm in alarms.values():
                    self.assertEqual(alarm["Dimensions"], [{"Name": "Troubleshooter", "Value": STACK}])
                    self.assertEqual((alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]), ("Sum", 300, 1))
                    self.assertEqual((alarm["ComparisonOperator"], alarm["Threshold"]), ("GreaterThanThreshold", 0))
                    self.assertEqual(alarm["AlarmActions"], [topic_of(stack)])

    def test_metrics_per_function_is_off_unless_asked_for(self) -> None:
        env = Stack(SCENARIOS["log groups"]).resources["Function"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["METRICS_PER_FUNCTION"], "false")
        on = Stack({**SCENARIOS["log groups"], "MetricsPerFunction": "true"})
        self.assertEqual(on.resources["Function"]["Properties"]["Environment"]["Variables"]["METRICS_PER_FUNCTION"], "true")

    def test_the_metrics_lines_pass_lambdas_log_level_filter_at_every_log_level(self) -> None:
        # The EMF lines carry no level, which Lambda reads as INFO: the application log level
        # must never be above INFO, or the metrics (and the health alarms) go silent.
        for level in TEMPLATE["Parameters"]["LogLevel"]["AllowedValues"]:
            props = Stack({**SCENARIOS["log groups"], "LogLevel": level}).resources["Function"]["Properties"]
            self.assertIn(props["LoggingConfig"]["ApplicationLogLevel"], ["INFO", "DEBUG", "TRACE"], level)
            self.assertEqual(props["Environment"]["Variables"]["RUST_LOG"], f"warn,lambda_troubleshooter={level}")


# --------------------------------------------------------------------------------------------
# The static security scan: checkov runs in scripts/check-template.sh; what it
# reports and is not fixed is skipped on the resource, with the reason
# --------------------------------------------------------------------------------------------


def checkov_skips() -> list[tuple[str, dict[str, Any]]]:
    """Every checkov skip in the template's resources, loop fragments included."""
    resources = dict(TEMPLATE["Resources"])
    for key, value in TEMPLATE["Resources"].items():
        if key.startswith("Fn::ForEach::"):
            del resources[key]
            resources.update(value[2])
    return [
        (name, skip)
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


class StaticScan(unittest.TestCase):
    def test_every_checkov_skip_names_a_check_and_gives_its_reason(self) -> None:
        skips = checkov_skips()
        self.assertGreater(len(skips), 0)
        seen = set()
        for resource, skip in skips:
            with self.subTest(resource=resource, skip=skip.get("id")):
                self.assertEqual(set(skip), {"id", "comment"}, "a skip is an id and a comment")
                self.assertRegex(skip["id"], r"^CKV2?_AWS_[0-9]+$")
                reason = " ".join(str(skip["comment"]).split())
                self.assertGreaterEqual(len(reason), 60, "the comment must say why the check does not apply")
                self.assertNotIn((resource, skip["id"]), seen, "skipped twice")
                seen.add((resource, skip["id"]))

    def test_the_readme_lists_every_skipped_check(self) -> None:
        readme = (ROOT / "docs" / "deploy.md").read_text()
        deploy = readme[readme.index("## The security scan (checkov)") : readme.index("## Get the findings")]
        for resource, skip in checkov_skips():
            self.assertIn(f"`{skip['id']}`", deploy, f"docs/deploy.md's security scan section does not list {skip['id']} ({resource})")

    def test_the_other_metadata_survives_next_to_the_skips(self) -> None:
        function = TEMPLATE["Resources"]["Function"]["Metadata"]
        self.assertEqual(function["BuildMethod"], "rust-cargolambda")
        self.assertEqual(function["BuildProperties"], {"Binary": "lambda-troubleshooter"})
        self.assertEqual(TEMPLATE["Metadata"]["cfn-lint"]["config"]["ignore_checks"], ["W8001", "W1035"])

    def test_the_function_log_group_is_encrypted_with_the_given_kms_key(self) -> None:
        # checkov's CKV_AWS_158; the key's policy must let CloudWatch Logs use it (docs/deploy.md).
        key = "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
        for mode in SCENARIOS.values():
            with self.subTest(mode=mode):
                group = Stack({**mode, "LogGroupKmsKeyArn": key}).resources["FunctionLogGroup"]["Properties"]
                self.assertEqual(group["KmsKeyId"], key)
                plain = Stack({**mode, "LogGroupKmsKeyArn": ""}).resources["FunctionLogGroup"]["Properties"]
                self.assertNotIn("KmsKeyId", plain, "no key given: CloudWatch Logs' own encryption")
        self.assertEqual(TEMPLATE["Parameters"]["LogGroupKmsKeyArn"]["Default"], "")
        # CloudWatch Logs takes a key ARN only, not an alias.
        with self.assertRaises(AssertionError):
            Stack({"LogGroupNames": "/aws/lambda/a", "LogGroupKmsKeyArn": "alias/logs"})


class Readme(unittest.TestCase):
    def test_the_deploy_section_documents_every_parameter_with_its_default(self) -> None:
        readme = (ROOT / "docs" / "deploy.md").read_text()
        table = readme[readme.index("## Parameters") : readme.index("## What the stack creates")]
        rows = dict(re.findall(r"^\| `([A-Za-z0-9]+)` \| ([^|]*) \|", table, re.M))
        parameters = TEMPLATE["Parameters"]
        self.assertEqual(set(rows), set(parameters), "docs/deploy.md's parameter table and template.yaml differ")
        for name, parameter in parameters.items():
            default = str(parameter.get("Default", "")).strip()
            shown = rows[name].strip().strip("`")
            if default:
                self.assertEqual(shown, default, f"docs/deploy.md shows {name}'s default as {rows[name]!r}")


class Samconfig(unittest.TestCase):
    def test_build_enables_the_cargo_lambda_beta_and_deploy_the_capabilities(self) -> None:
        config = tomllib.loads(SAMCONFIG_PATH.read_text())["default"]
        self.assertIs(config["build"]["parameters"]["beta_features"], True)
        self.assertIs(config["sync"]["parameters"]["beta_features"], True)
        capabilities = config["deploy"]["parameters"]["capabilities"].split()
        self.assertEqual(sorted(capabilities), ["CAPABILITY_AUTO_EXPAND", "CAPABILITY_IAM"])
        self.assertIs(config["validate"]["parameters"]["lint"], True)


# What the person deploying needs to create each kind of resource the template declares
# (docs/deployer-policy.json). A resource type missing here fails the test: a new kind of
# resource needs its actions in the policy before anyone can deploy it.
CREATE_ACTIONS = {
    "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"],
    "AWS::SQS::Queue": ["sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue"],
    "AWS::DynamoDB::Table": ["dynamodb:CreateTable", "dynamodb:UpdateTimeToLive", "dynamodb:DeleteTable"],
    "AWS::IAM::Role": ["iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole", "iam:DeleteRole"],
    "AWS::Serverless::Function": [
        "lambda:CreateFunction",
        "lambda:UpdateFunctionCode",
        "lambda:PutFunctionEventInvokeConfig",
        "lambda:DeleteFunction",
        "lambda:GetPolicy",
        "s3:PutObject",
    ],
    "AWS::KMS::Key": ["kms:CreateKey", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion"],
    "AWS::KMS::Alias": ["kms:CreateAlias", "kms:DeleteAlias"],
    "AWS::SNS::Topic": ["sns:CreateTopic", "sns:SetTopicAttributes", "sns:DeleteTopic"],
    "AWS::SNS::Subscription": ["sns:Subscribe", "sns:Unsubscribe"],
    "AWS::Lambda::Permission": ["lambda:AddPermission", "lambda:RemovePermission"],
    "AWS::Logs::SubscriptionFilter": ["logs:PutSubscriptionFilter", "logs:DeleteSubscriptionFilter"],
    "AWS::Logs::AccountPolicy": ["logs:PutAccountPolicy", "logs:DeleteAccountPolicy"],
    "AWS::Kinesis::Stream": ["kinesis:CreateStream", "kinesis:DeleteStream"],
    "AWS::Logs::Destination": ["logs:PutDestination", "logs:PutDestinationPolicy", "logs:DeleteDestination"],
    "AWS::Lambda::EventSourceMapping": ["lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping"],
    "AWS::CloudWatch::Alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
    "AWS::CloudWatch::Dashboard": ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
}


def declared_types(resources: dict[str, Any]) -> set[str]:
    """Every resource type the template declares, those inside Fn::ForEach loops included."""
    types: set[str] = set()
    for name, body in resources.items():
        if name.startswith("Fn::ForEach::"):
            types |= declared_types(body[2])
        elif isinstance(body, dict) and "Type" in body:
            types.add(body["Type"])
    return types


class DeployerPolicy(unittest.TestCase):
    """docs/deployer-policy.json: the least privilege the person running `sam deploy` needs."""

    POLICY = json.loads((ROOT / "docs" / "deployer-policy.json").read_text())

    def allowed(self) -> dict[str, list[str]]:
        actions: dict[str, list[str]] = {}
        for statement in self.POLICY["Statement"]:
            self.assertEqual(statement["Effect"], "Allow")
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in listed:
                actions.setdefault(action, []).extend(resources)
        return actions

    def test_every_resource_type_of_the_template_can_be_created_and_deleted(self) -> None:
        allowed = self.allowed()
        for resource_type in sorted(declared_types(TEMPLATE["Resources"])):
            self.assertIn(resource_type, CREATE_ACTIONS, f"{resource_type}: which actions does deploying it need?")
            for action in CREATE_ACTIONS[resource_type]:
                self.assertIn(action, allowed, f"{resource_type} needs {action}")
        for action in ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteStack"]:
            self.assertIn(action, allowed)

    def test_the_functions_properties_can_be_set(self) -> None:
        # Properties of the function that CloudFormation sets with actions of their own.
        allowed = self.allowed()
        function = TEMPLATE["Resources"]["Function"]["Properties"]
        needs = {"ReservedConcurrentExecutions": ["lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"]}
        for name, actions in needs.items():
            self.assertIn(name, function, f"the template no longer sets {name}: update this test")
            for action in actions:
                self.assertIn(action, allowed, f"{name} needs {action}")

    def test_no_wildcard_action_and_named_resources_where_the_service_allows(self) -> None:
        for action, resources in self.allowed().items():
            self.assertNotIn("*", action, f"{action}: a wildcard action")
            if "*" in resources:
                # Only actions that cannot name a resource before it exists, or at all.
                self.assertIn(
                    action,
                    {
                        "cloudformation:ValidateTemplate",
                        "cloudformation:ListStacks",
                        "kms:CreateKey",
                        "kms:ListAliases",
                        "logs:PutAccountPolicy",
                        "logs:DeleteAccountPolicy",
                        "logs:DescribeAccountPolicies",
                        "lambda:CreateEventSourceMapping",
                        "lambda:UpdateEventSourceMapping",
                        "lambda:DeleteEventSourceMapping",
                        "lambda:GetEventSourceMapping",
                    },
                    f"{action} on every resource",
                )

    def test_roles_are_passed_only_to_their_services_and_only_the_stacks(self) -> None:
        passing = [s for s in self.POLICY["Statement"] if s["Action"] == "iam:PassRole"]
        self.assertEqual(len(passing), 1)
        self.assertTrue(passing[0]["Resource"].endswith(":role/${Stack}-*"))
        services = passing[0]["Condition"]["StringEquals"]["iam:PassedToService"]
        self.assertEqual(sorted(services), ["lambda.amazonaws.com", "logs.amazonaws.com"])


if __name__ == "__main__":
    sys.exit(unittest.main())
