"""`copyloom experiment add-variant` and `retire-variant`: wordings that come and go while it runs."""

from __future__ import annotations

import time
from pathlib import Path

import click

from copyloom.cli.common import current_settings, emit, handles_errors, json_option, ready_store
from copyloom.cli.experiment import experiment, read_definition


@experiment.command(name="add-variant")
@click.argument("experiment_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@handles_errors
def experiment_add_variant(experiment_id: str, file: Path, as_json: bool) -> None:
    """Add the wording in FILE (YAML or JSON: id and the same placements as the others) to an experiment.

    It warms up on its own (an even share until it has min_sends_per_variant sends) while the others keep
    their weights. Its personalisation must be among the experiment's other wordings', which the snippets
    already pasted in Braze fill.
    """
    from copyloom.services import variants
    from copyloom.services.experiment_json import variants_json

    updated = variants.add_variant(
        ready_store(current_settings()), experiment_id, read_definition(file), time.time()
    )
    added = updated.definition.variants[-1].variant_id
    emit(variants_json(updated), as_json, f"{updated.experiment_id}: added {added}")


@experiment.command(name="retire-variant")
@click.argument("experiment_id")
@click.argument("variant_id")
@json_option
@handles_errors
def experiment_retire_variant(experiment_id: str, variant_id: str, as_json: bool) -> None:
    """Give VARIANT_ID to no new recipient (never the control; at least two stay live).

    Recipients already assigned to it keep it, and their clicks and opens keep counting.
    """
    from copyloom.services import variants
    from copyloom.services.experiment_json import variants_json

    updated = variants.retire_variant(ready_store(current_settings()), experiment_id, variant_id, time.time())
    emit(variants_json(updated), as_json, f"{updated.experiment_id}: retired {variant_id}")
