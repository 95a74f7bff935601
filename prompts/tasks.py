"""Celery tasks of the prompts app: take ids (or nothing), call a service."""
from __future__ import annotations

from celery import shared_task

from prompts.guards import guards_evaluate


@shared_task(name="prompts.tasks.evaluate_guards")
def evaluate_guards() -> int:
    """Beat runs this every OBSERVATORY_PROMPT_GUARD_SECONDS; a guard trips at most once (a
    conditional update claims it), so two runs at once are safe."""
    return guards_evaluate()


@shared_task(name="prompts.tasks.run_dataset")
def run_dataset(run_id: int) -> str | None:
    """Run a pending dataset run (prompts/datasets.py); claimed, so a repeated message does nothing."""
    from prompts.datasets import dataset_run_execute

    run = dataset_run_execute(run_id)
    return run.status if run else None
