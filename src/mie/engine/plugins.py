"""Operators discovered in code (entry points) and their operations in the control plane.

A native operator carries its whole operation definition, so registering it is one call (or one command), and the
built-in ones (``mie.library``) are registered when the engine starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mie.engine.catalog import Catalog
from mie.errors import NotFoundError
from mie.operators.definition import OperatorDefinition
from mie.operators.registry import OperatorRegistry
from mie.types import JSONDict

BUILTIN_PREFIX = "mie.library."
#: Packages outside ``mie.library`` that also ship operators (the ``Transcode`` operator of transcode jobs).
BUILTIN_PREFIXES = (BUILTIN_PREFIX, "mie.jobs.")


def is_builtin(definition: OperatorDefinition) -> bool:
    """True for operators shipped with the engine."""
    return str(getattr(definition.function, "__module__", "")).startswith(BUILTIN_PREFIXES)


def describe(registry: OperatorRegistry, catalog: Catalog) -> JSONDict:
    """What ``GET /api/operators`` answers: native operators with their operation and registration state, and the
    names of Lambda-style handlers."""
    registered = {op["Name"]: op for op in catalog.list_operations()}
    natives = []
    for definition in registry.definitions():
        record = registered.get(definition.name)
        natives.append(
            {
                "Name": definition.name,
                "MediaType": definition.media_type,
                "Type": "Async" if definition.monitor_function is not None else "Sync",
                "Description": definition.description,
                "Version": definition.version,
                "Source": registry.source(definition.name),
                "Builtin": is_builtin(definition),
                "Isolation": definition.isolation,
                "Registered": record is not None,
                "RegisteredVersion": None if record is None else record.get("Version"),
                "Operation": definition.operation(),
            }
        )
    native_names = {d.name for d in registry.definitions()}
    handlers = [name for name in registry.names() if name not in native_names]
    return {"Operators": natives, "Handlers": handlers}


def register(registry: OperatorRegistry, catalog: Catalog, name: str) -> JSONDict:
    """Create the operation of a discovered operator, or update it to the code's definition; its record."""
    definition = registry.definition(name)
    if definition is None:
        raise NotFoundError(f"no operator named '{name}' was discovered (see GET /api/operators or mie operator list)")
    body = definition.operation()
    try:
        catalog.get_operation(name)
    except NotFoundError:
        return catalog.create_operation(body)
    return catalog.update_operation(body)


def register_builtins(registry: OperatorRegistry, catalog: Catalog) -> list[str]:
    """Create the operations of built-in operators that have none yet; the names created."""
    created = []
    for definition in registry.definitions():
        if is_builtin(definition):
            try:
                catalog.get_operation(definition.name)
            except NotFoundError:
                catalog.ensure_operation(definition.operation())
                created.append(definition.name)
    return created


#: Workflow name -> ordered ``(stage name, operator names)``.
WorkflowSpecs = Mapping[str, Sequence[tuple[str, Sequence[str]]]]


def install_default_workflows(catalog: Catalog, specs: WorkflowSpecs, marker: str) -> list[str]:
    """Create (or refresh) the default workflows from the operations that exist; the names changed.

    A workflow the engine installed is refreshed when the available operators change (a library was installed);
    a workflow of the same name that a user created is never touched.
    """
    available = {op["Name"] for op in catalog.list_operations()}
    changed = []
    for name, spec in specs.items():
        stages: list[tuple[str, list[str]]] = [(stage, [op for op in ops if op in available]) for stage, ops in spec]
        stages = [(stage, ops) for stage, ops in stages if ops]
        if not stages:
            continue
        try:
            existing: JSONDict | None = catalog.get_workflow(name)
        except NotFoundError:
            existing = None
        if existing is not None and existing.get("Description") != marker:
            continue
        wanted = dict(stages)
        if existing is not None and _stage_operations(existing) == wanted:
            continue
        for stage, ops in stages:
            body = {"Name": stage, "Operations": ops}
            try:
                current = catalog.get_stage(stage)
            except NotFoundError:
                catalog.create_stage(body)
                continue
            if list(current.get("Operations", [])) != ops:
                catalog.update_stage(body)
        links: JSONDict = {
            stage: ({"Next": stages[i + 1][0]} if i + 1 < len(stages) else {"End": True})
            for i, (stage, _) in enumerate(stages)
        }
        workflow: JSONDict = {"Name": name, "StartAt": stages[0][0], "Stages": links, "Description": marker}
        if existing is None:
            catalog.create_workflow(workflow)
        else:
            catalog.update_workflow(workflow)
        changed.append(name)
    return changed


def _stage_operations(workflow: JSONDict) -> dict[str, list[str]]:
    stages = workflow.get("Stages") or {}
    return {name: list((stage or {}).get("Operations", [])) for name, stage in stages.items()}
