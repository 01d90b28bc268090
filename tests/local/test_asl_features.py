"""ASL features the real templates may use, as LocalAws evaluates them (JSONata, integrations)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from cronguard_simulation.engine import LocalAws


def run(aws: LocalAws, definition: dict[str, Any], input: dict[str, Any] | None = None) -> Any:
    machine = aws.deploy_state_machine(f"m-{uuid.uuid4().hex[:8]}", definition)
    return aws.run(machine, "run", input or {})


def jsonata_pass(output: Any) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Pass",
        "States": {"Pass": {"Type": "Pass", "Output": output, "End": True}},
    }


def test_step_functions_jsonata_functions(aws):
    result = run(
        aws,
        jsonata_pass(
            {
                "uuid": "{% $uuid() %}",
                "parse": "{% $parse($states.input.json) %}",
                "hash": "{% $hash('abc', 'SHA-256') %}",
                "partition": "{% $partition([1, 2, 3, 4, 5], 2) %}",
                "range": "{% $range(0, 10, 5) %}",
                "number": "{% 3 / 1.5 %}",
            }
        ),
        {"json": '{"slot": "20261122T0300Z", "force": true}'},
    )

    output = json.loads(result["output"])
    assert uuid.UUID(output["uuid"]).version == 4
    assert output["parse"] == {"slot": "20261122T0300Z", "force": True}
    assert output["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert output["partition"] == [[1, 2], [3, 4], [5]]
    assert output["range"] == [0, 5, 10]
    assert output["number"] == 2 and isinstance(output["number"], int)


def test_string_variables_survive_quotes_backslashes_and_newlines(aws):
    text = 'he said "hi"\\n\nC:\\jobs'
    result = run(
        aws,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Remember",
            "States": {
                "Remember": {
                    "Type": "Pass",
                    "Assign": {"reason": "{% $states.input.text %}"},
                    "Next": "Use",
                },
                "Use": {"Type": "Pass", "Output": "{% $reason & '!' %}", "End": True},
            },
        },
        {"text": text},
    )

    assert json.loads(result["output"]) == text + "!"


def test_eval_is_rejected_as_in_step_functions(aws):
    result = run(aws, jsonata_pass("{% $eval('1 + 1') %}"))

    assert (result["status"], result["error"]) == ("FAILED", "States.QueryEvaluationError")
    assert "use $parse" in result["cause"]


def test_an_undefined_result_is_a_query_evaluation_error(aws):
    result = run(aws, jsonata_pass("{% $states.input.missing %}"))

    assert (result["status"], result["error"]) == ("FAILED", "States.QueryEvaluationError")


def test_context_start_time_has_the_aws_format(aws):
    aws_time = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    jsonata = run(aws, jsonata_pass("{% $states.context.Execution.StartTime %}"))
    jsonpath = run(
        aws,
        {
            "StartAt": "Pass",
            "States": {
                "Pass": {
                    "Type": "Pass",
                    "Parameters": {"started.$": "$$.Execution.StartTime"},
                    "End": True,
                }
            },
        },
    )

    assert aws_time.match(json.loads(jsonata["output"]))
    assert aws_time.match(json.loads(jsonpath["output"])["started"])


def test_choice_condition_and_fail_with_jsonata_error_and_cause(aws):
    result = run(
        aws,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Late?",
            "States": {
                "Late?": {
                    "Type": "Choice",
                    "Choices": [
                        {"Condition": "{% $states.input.lateSeconds > 300 %}", "Next": "Too late"}
                    ],
                    "Default": "On time",
                },
                "Too late": {
                    "Type": "Fail",
                    "Error": "{% 'cronguard.' & 'Late' %}",
                    "Cause": "{% 'late by ' & $string($states.input.lateSeconds) & ' s' %}",
                },
                "On time": {"Type": "Succeed"},
            },
        },
        {"lateSeconds": 900},
    )

    assert (result["status"], result["error"], result["cause"]) == (
        "FAILED",
        "cronguard.Late",
        "late by 900 s",
    )


def test_a_fail_state_may_not_raise_a_reserved_states_error(aws):
    """The States Language reserves "States."; AWS's engine (and LocalStack's, which moto
    vendors) fail the execution with States.Runtime instead. No shim hides it."""
    result = run(
        aws,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Failed",
            "States": {
                "Failed": {
                    "Type": "Fail",
                    "Error": "{% 'States.' & 'TaskFailed' %}",
                    "Cause": "re-raised",
                }
            },
        },
        {},
    )

    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")


def test_dynamodb_conditional_put_is_caught_by_its_error_name(aws):
    aws.dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Claim",
        "States": {
            "Claim": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Arguments": {
                    "TableName": "ledger",
                    "Item": {
                        "pk": {"S": "{% 'nightly#' & $states.input.slot %}"},
                        "owner": {"S": "{% $states.context.Execution.Id %}"},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "Output": {"skipped": True},
                        "Next": "Done",
                    }
                ],
                "Assign": {"slot": "{% $states.input.slot %}"},
                "Next": "Mark running",
            },
            "Mark running": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Arguments": {
                    "TableName": "ledger",
                    "Key": {"pk": {"S": "{% 'nightly#' & $slot %}"}},
                    "UpdateExpression": "SET #status = :running",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":running": {"S": "RUNNING"}},
                    "ReturnValues": "ALL_NEW",
                },
                "Output": "{% $states.result.Attributes %}",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    machine = aws.deploy_state_machine("claims", definition)

    first = aws.run(machine, "first", {"slot": "20261122T0300Z"})
    second = aws.run(machine, "second", {"slot": "20261122T0300Z"})

    assert json.loads(first["output"])["status"] == {"S": "RUNNING"}
    assert json.loads(second["output"]) == {"skipped": True}


def test_an_evaluation_error_in_a_dynamodb_state_keeps_its_name(aws):
    result = run(
        aws,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Put",
            "States": {
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Arguments": {"TableName": "ledger", "Item": "{% $states.input.missing %}"},
                    "End": True,
                }
            },
        },
    )

    assert (result["status"], result["error"]) == ("FAILED", "States.QueryEvaluationError")


def test_aws_sdk_list_executions_sees_this_execution_running(aws):
    result = run(
        aws,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "List",
            "States": {
                "List": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
                    "Arguments": {
                        "StateMachineArn": "{% $states.context.StateMachine.Id %}",
                        "StatusFilter": "RUNNING",
                    },
                    "Output": "{% $states.result.Executions.ExecutionArn %}",
                    "End": True,
                }
            },
        },
    )

    assert json.loads(result["output"]) == result["executionArn"]
