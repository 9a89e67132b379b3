# The adapter between Snakemake and toklab's planning layer (src/toklab/workflow/): config
# validation, the generated wildcard constraints, and from_plan, which binds a stage plan's
# method to a rule's wildcards (``unpack(from_plan(plan.lm.training_inputs))``). Names, paths,
# targets and checks live in that package, unit-tested.

import inspect
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout
from toklab.workflow.checks import check_config
from toklab.workflow.schema import validate_config
from toklab.workflow.launch import train_launcher

REPO = Path(workflow.basedir).parent
# the schema (types, ranges, defaults), then the checks across fields: a problem is one line
try:
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    plan = check_config(
        config, presets=REPO / "resources" / "model_presets.yaml", repository=REPO
    )
except ConfigError as err:
    raise WorkflowError(f"config error: {err}") from None


wildcard_constraints:
    **layout.WILDCARDS,


def script(name):
    """Path of a script in ``scripts/``, relative to the working directory where possible."""
    return os.path.relpath(REPO / "scripts" / name)


def from_plan(method, /, *, item=None, **fixed):
    """An input or params function: a stage plan's ``method`` on the job's wildcards.

    The plans name their parameters after the wildcards (``corpus``, ``subset``,
    ``tokenizer_corpus``, ``tokenization``, ``model``, ...): each parameter without a default
    and not ``fixed`` is the wildcard of its name. ``item`` picks one entry of the result.
    Config errors become one-line WorkflowErrors.
    """
    fields = [
        name
        for name, parameter in inspect.signature(method).parameters.items()
        if parameter.default is parameter.empty and name not in fixed
    ]

    def plan_function(wildcards):
        try:
            result = method(
                **fixed, **{field: getattr(wildcards, field) for field in fields}
            )
        except ConfigError as err:
            raise WorkflowError(f"config error: {err}") from None
        return result if item is None else result[item]

    return plan_function


def launcher(wildcards, threads, resources):
    """python, torchrun, or srun + torchrun, from the job's gpu and nodes resources."""
    try:
        return train_launcher(
            resources.gpu,
            resources.nodes,
            threads,
            mpi=resources.get("mpi"),
            cpus_per_gpu=resources.get("cpus_per_gpu", 0),
        )
    except ConfigError as err:
        raise WorkflowError(str(err)) from None


def prefix_of(key):
    """A params function: the array prefix of the named ``.bin`` input or output."""

    def params_function(wildcards, input, output):
        files = input if key in input.keys() else output
        return layout.prefix(files[key])

    return params_function


def directory_of(key):
    """A params function: the directory of the named output (or input)."""

    def params_function(wildcards, input, output):
        files = output if key in output.keys() else input
        return os.path.dirname(files[key])

    return params_function
