"""Reading a synthesized environment: its job stacks' templates, and which job stack holds
each state machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

_ASSET_KEY = re.compile(r"/([0-9a-f]{64})\.json")


def nested_templates(parent_file: Path) -> dict[str, Path]:
    """Each nested stack's logical ID in the parent -> its template file (found through the
    asset its ``TemplateURL`` names)."""
    assembly = parent_file.parent
    parent = json.loads(parent_file.read_text())
    assets = {
        asset_hash: asset["source"]["path"]
        for manifest in assembly.glob("*.assets.json")
        for asset_hash, asset in json.loads(manifest.read_text())["files"].items()
    }
    found = {}
    for logical_id, resource in parent["Resources"].items():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = json.dumps(resource["Properties"]["TemplateURL"])
            (asset_hash,) = _ASSET_KEY.findall(url)
            found[logical_id] = assembly / assets[asset_hash]
    return found


def state_machine_stacks(parent_file: Path) -> dict[str, str]:
    """State machine name -> the logical ID of the job stack it was synthesized in."""
    where = {}
    for logical_id, template_file in nested_templates(parent_file).items():
        for resource in json.loads(template_file.read_text())["Resources"].values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                where[resource["Properties"]["StateMachineName"]] = logical_id
    return where
