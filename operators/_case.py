"""The shape most operators share: receive the case (a dict), add what this step knows, pass it on."""

from __future__ import annotations

from typing import Any

from monai.deploy.core import Operator, OperatorSpec


class CaseStepOperator(Operator):
    """An operator with one ``case`` input and one ``case`` output: subclasses implement
    :meth:`add`, which returns the entries this step adds to the case."""

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("case")
        spec.output("case")

    def compute(self, op_input, op_output, context) -> None:
        case = op_input.receive("case")
        op_output.emit({**case, **self.add(case)}, "case")

    def add(self, case: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError
