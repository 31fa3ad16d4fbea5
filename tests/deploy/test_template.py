"""template.yaml and template-snapstart.yaml: in step with handler/ and with each other, and what
the real SAM transform makes of them is valid CloudFormation (cfn-lint, no errors)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from handler.settings import Settings
from tests.support import REPO

IMAGE = REPO / "template.yaml"
SNAPSTART = REPO / "template-snapstart.yaml"
FUNCTIONS = ("ApiFunction", "TriggerFunction")
ENTRY_POINTS = {
    "ApiFunction": "handler.app.lambda_handler",
    "TriggerFunction": "handler.trigger.s3_handler",
}
# What differs between the two variants, by design: how the code is packaged and published.
PACKAGING = {"PackageType", "ImageConfig", "CodeUri", "Handler", "Runtime", "Layers"}
PACKAGING |= {"Architectures", "AutoPublishAlias", "SnapStart"}


def load(path: Any) -> dict[str, Any]:
    """A template as plain data, short-form tags (!Ref, !Sub...) as their long forms."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors, errors
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    return load(IMAGE)


@pytest.fixture(scope="module")
def snapstart() -> dict[str, Any]:
    return load(SNAPSTART)


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = template["Resources"][function]["Properties"]["Policies"]
    return [s for policy in policies for s in policy["Statement"]]


def strip(props: dict[str, Any]) -> dict[str, Any]:
    """A function's properties less those that say how it is packaged."""
    return {k: v for k, v in props.items() if k not in PACKAGING}


def entry_point(function: dict[str, Any]) -> str:
    props = function["Properties"]
    return str(props["Handler"] if "Handler" in props else props["ImageConfig"]["Command"][0])


def test_variants_differ_only_in_packaging(
    image: dict[str, Any], snapstart: dict[str, Any]
) -> None:
    for section in ("Conditions", "Mappings", "Outputs"):
        assert image[section] == snapstart[section], section
    assert set(image["Parameters"]) - set(snapstart["Parameters"]) == {"Architecture"}
    # The zip variant offers only u2netp: u2net does not fit Lambda's 250 MB with its layers.
    models = {"Models", "TriggerModel"}
    for name in models:
        zip_models, image_models = (t["Parameters"][name] for t in (snapstart, image))
        assert zip_models["AllowedValues"] == ["u2netp"]
        assert set(zip_models["AllowedValues"]) < set(image_models["AllowedValues"])
        assert zip_models["Default"] == image_models["Default"] == "u2netp"
    assert {k: v for k, v in image["Parameters"].items() if k not in {"Architecture", *models}} == {
        k: v for k, v in snapstart["Parameters"].items() if k not in models
    }
    assert strip(image["Globals"]["Function"]) == strip(snapstart["Globals"]["Function"])
    layers = {"DependenciesLayer", "ModelLayer"}
    assert set(snapstart["Resources"]) == set(image["Resources"]) | layers
    for name, resource in image["Resources"].items():
        other = snapstart["Resources"][name]
        if name in FUNCTIONS:
            assert strip(resource["Properties"]) == strip(other["Properties"]), name
        else:
            assert resource == other, name


def test_both_variants_call_the_handlers_that_exist(
    image: dict[str, Any], snapstart: dict[str, Any]
) -> None:
    import importlib

    for template in (image, snapstart):
        for function, expected in ENTRY_POINTS.items():
            assert entry_point(template["Resources"][function]) == expected
            module, _, name = expected.rpartition(".")
            assert callable(getattr(importlib.import_module(module), name))
    assert image["Resources"]["ApiFunction"]["Properties"]["PackageType"] == "Image"
    assert snapstart["Globals"]["Function"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert snapstart["Globals"]["Function"]["Runtime"] == "python3.12"


def test_api_routes_are_routes_of_the_app(image: dict[str, Any]) -> None:
    from handler.app import app

    events = image["Resources"]["ApiFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events.values()}
    assert routes == {
        ("POST", "/v1/remove"),
        ("POST", "/v1/uploads"),
        ("GET", "/v1/results/{key+}"),
        ("GET", "/healthz"),
    }
    for method, path in routes:
        sample = re.sub(r"\{\w+\+\}", "shoes/red", path)
        assert any(
            method in getattr(route, "methods", set()) and route.path_regex.match(sample)
            for route in app.routes
        ), (method, path)
    api = image["Resources"]["CutoutApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    assert api["Auth"]["UsagePlan"]["CreateUsagePlan"] == "PER_API"
    assert set(api["Auth"]["UsagePlan"]) >= {"Quota", "Throttle"}
    assert api["BinaryMediaTypes"] == ["*~1*"]


def test_queue_visibility_is_six_times_every_allowed_trigger_timeout(
    image: dict[str, Any],
) -> None:
    allowed = image["Parameters"]["TriggerTimeout"]["AllowedValues"]
    mapping = image["Mappings"]["TriggerTimeouts"]
    assert set(mapping) == {str(t) for t in allowed}
    for timeout in allowed:
        assert mapping[str(timeout)]["VisibilitySeconds"] >= 6 * timeout
        assert mapping[str(timeout)]["DurationAlarmMs"] < 1000 * timeout
    queue = image["Resources"]["UploadsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == {
        "Fn::FindInMap": ["TriggerTimeouts", {"Ref": "TriggerTimeout"}, "VisibilitySeconds"]
    }
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["UploadsDeadLetterQueue", "Arn"]
    }
    trigger = image["Resources"]["TriggerFunction"]["Properties"]
    assert trigger["Timeout"] == {"Ref": "TriggerTimeout"}
    (event,) = trigger["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": "TriggerMaxConcurrency"
    }
    api_timeouts = image["Parameters"]["Timeout"]["AllowedValues"]
    assert set(image["Mappings"]["ApiTimeouts"]) == {str(t) for t in api_timeouts}
    assert max(api_timeouts) <= 29  # API Gateway's integration timeout


def test_media_bucket_notifies_for_the_input_prefix_without_a_cycle(
    image: dict[str, Any],
) -> None:
    resources = image["Resources"]
    bucket = resources["MediaBucket"]
    defaults = Settings()
    env = image["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CUTOUT_INPUT_PREFIX"] == defaults.input_prefix == "uploads/"
    assert env["CUTOUT_OUTPUT_PREFIX"] == defaults.output_prefix == "cutouts/"
    (notification,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    # The queue policy names the bucket by the same fixed name, not by a reference to it.
    name, variables = bucket["Properties"]["BucketName"]["Fn::Sub"]
    statement = resources["UploadsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    arn, arn_variables = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert arn == "arn:${AWS::Partition}:s3:::" + name and arn_variables == variables
    policy = json.dumps(resources["UploadsQueuePolicy"])
    assert '{"Ref": "MediaBucket"}' not in policy and "MediaBucket.Arn" not in policy
    assert bucket["DependsOn"] == "UploadsQueuePolicy"


def test_buckets_are_encrypted_private_and_tls_only(image: dict[str, Any]) -> None:
    resources = image["Resources"]
    buckets = [n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
    assert sorted(buckets) == ["CacheBucket", "MediaBucket"]
    for name in buckets:
        props = resources[name]["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        (policy,) = [
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": name}
        ]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in policy["Statement"]
        ), name
    (rule,) = resources["CacheBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "CacheExpiryDays"}


def test_function_policies_are_scoped_to_their_prefixes(image: dict[str, Any]) -> None:
    def grants(function: str) -> set[tuple[str, str]]:
        found = set()
        for s in statements(image, function):
            assert s["Effect"] == "Allow"
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            for action in actions:
                assert "*" not in action, action
                for resource in resources:
                    assert resource != "*"
                    found.add((action, json.dumps(resource)))
        return found

    api, trigger = grants("ApiFunction"), grants("TriggerFunction")
    uploads = json.dumps({"Fn::Sub": "${MediaBucket.Arn}/uploads/*"})
    cutouts = json.dumps({"Fn::Sub": "${MediaBucket.Arn}/cutouts/*"})
    assert ("s3:PutObject", uploads) in api and ("s3:GetObject", cutouts) in api
    assert ("s3:PutObject", cutouts) not in api and ("s3:GetObject", uploads) not in api
    assert ("s3:GetObject", uploads) in trigger and ("s3:PutObject", cutouts) in trigger
    assert ("s3:PutObject", uploads) not in trigger


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam build` + `sam deploy` hand it over: artifacts in ECR and S3."""
    template = copy.deepcopy(template)
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cutout:v1"
            else:
                props["CodeUri"] = "s3://cutout-artifacts/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://cutout-artifacts/{name}.zip"
    return template


class NoManagedPolicyNames:
    """The SAM translator's policy-name lookup: the templates name no managed policy."""

    def load(self) -> dict[str, str]:
        return {}


# Only in the transform's output, not in our templates: SAM resolves the usage plan's parameters
# to their values (so they look unused) and adds DependsOn next to its own references.
GENERATED_WARNINGS = {"W2001", "W3005"}


@pytest.mark.slow
@pytest.mark.parametrize("path", [IMAGE, SNAPSTART], ids=["image", "snapstart"])
def test_sam_transform_output_is_valid_cloudformation(path: Any) -> None:
    from cfnlint.api import lint
    from samtranslator.translator.transform import transform

    output = transform(packaged(load(path)), {}, NoManagedPolicyNames())
    resources = output["Resources"]
    types = {name: r["Type"] for name, r in resources.items()}
    assert types["CutoutApiApiKey"] == "AWS::ApiGateway::ApiKey"  # Outputs' ApiKeyId
    assert types["CutoutApiUsagePlan"] == "AWS::ApiGateway::UsagePlan"
    mapping = resources["TriggerFunctionUploads"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in mapping["ScalingConfig"]
    if path == SNAPSTART:
        assert resources["ApiFunction"]["Properties"]["SnapStart"] == {
            "ApplyOn": "PublishedVersions"
        }
        assert mapping["FunctionName"] == {"Ref": "TriggerFunctionAliaslive"}
    problems = [
        f"{m.rule.id} {m.message}"
        for m in lint(json.dumps(output))
        if m.rule.id not in GENERATED_WARNINGS and not m.rule.id.startswith("I")
    ]
    assert problems == []


def test_samconfig_example_sets_only_parameters_the_templates_accept(
    image: dict[str, Any], snapstart: dict[str, Any]
) -> None:
    import tomllib

    config = tomllib.loads((REPO / "samconfig.example.toml").read_text())
    deploys = {
        "default": (image, config["default"]["deploy"]["parameters"]),
        "snapstart": (snapstart, config["snapstart"]["deploy"]["parameters"]),
    }
    assert deploys["snapstart"][1]["template_file"] == SNAPSTART.name
    for env, (template, deploy) in deploys.items():
        assert "CAPABILITY_IAM" in deploy["capabilities"]
        for pair in deploy["parameter_overrides"].split():
            name, _, value = pair.partition("=")
            assert name in template["Parameters"], (env, name)
            allowed = template["Parameters"][name].get("AllowedValues")
            assert allowed is None or value in {str(v) for v in allowed}, (env, pair)


def test_model_parameters_are_valid_settings_and_reach_each_function(
    image: dict[str, Any], snapstart: dict[str, Any]
) -> None:
    for template in (image, snapstart):
        params = template["Parameters"]
        for value in params["Models"]["AllowedValues"]:
            models = Settings.from_env({"CUTOUT_MODELS": value}).models
            assert ",".join(models) == value
        for value in params["TriggerModel"]["AllowedValues"]:
            assert Settings.from_env({"CUTOUT_MODELS": value}).models == (value,)
        resources = template["Resources"]
        for function, parameter in (("ApiFunction", "Models"), ("TriggerFunction", "TriggerModel")):
            variables = resources[function]["Properties"]["Environment"]["Variables"]
            assert variables["CUTOUT_MODELS"] == {"Ref": parameter}
