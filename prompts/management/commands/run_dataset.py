"""`python3 dev.py manage run_dataset <prompt> <version> <dataset> --gate "score_avg:helpful>=0.8"`: run a
prompt version over a golden dataset (a review dataset's name, or a .jsonl file), print the figures
beside production's, and exit 1 when a gate fails (or the run fails), so it can sit in any CI."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from prompts import datasets
from prompts.models import Prompt
from prompts.services import PromptError


class Command(BaseCommand):
    help = "Run a prompt version over a dataset and check gates (exit 1 when one fails)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("prompt")
        parser.add_argument("version", type=int)
        parser.add_argument("dataset", help="a review golden dataset's name, or a path to a .jsonl file "
                                            "({\"input\": ..., \"expected_output\": ...} per line)")
        parser.add_argument("--gate", action="append", default=[], help='e.g. "score_avg:helpfulness>=0.8", '
                                                                        '"cost_per_call<=0.002" (repeatable)')
        parser.add_argument("--project", type=int, help="project id (needed when several have the prompt)")
        parser.add_argument("--dataset-version", type=int, help="a review dataset's export (default: the newest)")
        parser.add_argument("--base-url", default="", help="OpenAI-compatible base URL (default: "
                                                           "OBSERVATORY_DATASET_RUN_BASE_URL, else the first judge's)")
        parser.add_argument("--api-key-env", default="", help="name of the OBSERVATORY_JUDGE_KEY_* variable "
                                                              "holding the key")
        parser.add_argument("--model", default="", help="default: the version's config model")
        parser.add_argument("--concurrency", type=int)
        parser.add_argument("--max-cost", type=float, help="USD; the run stops when its answers cost this much")

    def handle(self, *args: Any, **o: Any) -> None:
        prompts = Prompt.objects.filter(name=o["prompt"])
        if o["project"]:
            prompts = prompts.filter(project_id=o["project"])
        found = list(prompts[:2])
        if len(found) != 1:
            raise CommandError(f"prompt '{o['prompt']}': {'not found' if not found else 'in several projects'}"
                               f"{'' if not found else ' (give --project)'}")
        path = Path(o["dataset"])
        items = None
        dataset = o["dataset"]
        if dataset.endswith(".jsonl") or path.is_file():
            items, dataset = datasets.jsonl_items(path.read_text(encoding="utf-8")), datasets.UPLOAD
        try:
            run = datasets.dataset_run_create(
                prompt=found[0], version=o["version"], dataset=dataset, items=items, gates=o["gate"],
                dataset_version=o["dataset_version"], base_url=o["base_url"], model=o["model"],
                api_key_env=o["api_key_env"], concurrency=o["concurrency"], max_cost_usd=o["max_cost"],
                actor_label="command run_dataset")
        except PromptError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"dataset run {run.pk}: {found[0].name} v{run.version}"
                          f"{f' against production v{run.baseline_version}' if run.baseline_version else ''}"
                          f" on {run.dataset}, concurrency {run.concurrency}, cost cap ${run.max_cost_usd:g}")
        run = datasets.dataset_run_execute(run.pk, progress=lambda r: self.stderr.write(
            f"  {r.done}/{r.total} answers, ${r.cost_usd:.4f}"))
        if run is None or run.status != "done":
            raise CommandError(f"the run failed: {run.error if run else 'claimed elsewhere'}")
        rows = datasets.table(run)
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        self.stdout.write(f"spent ${run.cost_usd:.4f} of ${run.max_cost_usd:g}"
                          f"{' (CAPPED: stopped early)' if run.capped else ''}; {run.done}/{run.total} answers")
        for problem in run.results.get("problems", []):
            self.stderr.write(f"  {problem}")
        if not datasets.passed(run):
            failed = [g["gate"] for g in run.results.get("gates", []) if not g["passed"]]
            self.stdout.write(f"FAILED gates: {', '.join(failed)}")
            sys.exit(1)
        self.stdout.write("all gates passed" if run.gates else "no gates")
