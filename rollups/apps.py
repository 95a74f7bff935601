from django.apps import AppConfig


class RollupsConfig(AppConfig):
    name = "rollups"
    verbose_name = "Rollups"

    def ready(self) -> None:
        from rollups.compact import project_compact
        from rollups.fold import fold_calls
        from rollups.signals import after_run
        from telemetry.services import register_after_run, register_processor

        register_processor(fold_calls)
        # Merge what the run appended right away (skipped if another worker is compacting this
        # project); beat's rollups.tasks.compact is the safety net.
        register_after_run(lambda project_id: project_compact(project_id=project_id))
        # Feedback and scores can arrive without a call, or link to one in this run.
        register_after_run(after_run, always=True)
