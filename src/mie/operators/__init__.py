"""Operator SDK: declare native operators, and how the engine finds and calls operators of every kind.

>>> from mie.operators import operator, OperatorContext
>>> @operator("WordCount", media_type="Text")
... def word_count(ctx: OperatorContext) -> dict[str, int]:
...     return {"Words": len(ctx.input_file("Text").read_text().split())}

See docs/operators.md.
"""

from mie.errors import OperatorCancelledError, OperatorError, OperatorTimeoutError
from mie.operators.context import OperatorContext, ResultPages, Runtime
from mie.operators.dataplane import DataPlaneClient
from mie.operators.definition import EXECUTING, OperatorDefinition, operator
from mie.operators.dependencies import MissingDependencyError, require_module
from mie.operators.registry import Handler, LambdaContext, OperatorRegistry, Target

__all__ = [
    "EXECUTING",
    "DataPlaneClient",
    "Handler",
    "LambdaContext",
    "MissingDependencyError",
    "OperatorCancelledError",
    "OperatorContext",
    "OperatorDefinition",
    "OperatorError",
    "OperatorRegistry",
    "OperatorTimeoutError",
    "ResultPages",
    "Runtime",
    "Target",
    "operator",
    "require_module",
]
