"""A reward for structured output: the completion parses as JSON and fits a JSON Schema."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.core.rewards.base import Preset

# A fenced block, ```json … ``` (or a bare ```), as chat models write JSON.
FENCED_JSON = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


def json_payload(text: str) -> str:
    """The fenced ```json block when there is one, else the whole completion."""
    fenced = FENCED_JSON.findall(text)
    return fenced[-1] if fenced else text


@dataclass
class JsonSchema(Preset):
    """1 when the completion (or its ```json block) parses and validates, else 0."""

    kind: ClassVar[str] = "json_schema"
    description: ClassVar[str] = ("1 when the completion, or its ```json block, parses as JSON and "
                                  "matches the schema, else 0")

    schema: dict[str, Any] = field(default_factory=dict)  # a JSON Schema; {} accepts any JSON

    def problems(self) -> list[str]:
        import jsonschema  # ~30 ms: only for a job that asks for this reward, not every worker's start

        if not isinstance(self.schema, dict):
            return [f"`schema` must be a JSON object, not {type(self.schema).__name__}"]
        try:
            jsonschema.validators.validator_for(self.schema).check_schema(self.schema)
        except jsonschema.SchemaError as error:
            return [f"`schema` is not a valid JSON Schema ({error.message})"]
        return []

    def __post_init__(self) -> None:
        import jsonschema

        super().__post_init__()  # the settings' problems, raised
        self._validator = jsonschema.validators.validator_for(self.schema)(self.schema)  # once, not per completion

    def score(self, text: str, row: Mapping[str, Any]) -> float:
        try:
            value = json.loads(json_payload(text).strip())
        except ValueError:
            return 0.0
        return float(self._validator.is_valid(value))
