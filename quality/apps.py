from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality"

    def ready(self) -> None:
        from quality.batch import evaluations_refold
        from quality.selectors import flag_denominator
        from quality.services import evaluations_queue, evaluations_request
        from rollups.selectors import register_flag_denominator
        from rollups.services import register_rebuild_folder
        from telemetry.services import register_after_run, register_processor

        # Calls join the evaluation queue in the transaction that processes them; evaluating runs
        # in its own task, because evaluators take milliseconds per call where the fold takes µs.
        register_processor(evaluations_queue)
        register_after_run(evaluations_request)
        # Flag rates divide by the calls their evaluator evaluated.
        register_flag_denominator(flag_denominator)
        # A rollup rebuild deletes the range's evaluator scores and flags too: fold them again.
        register_rebuild_folder(evaluations_refold)
        from django.apps import apps

        if apps.is_installed("alerts"):
            # Evaluation queue lag as an alert metric ("evaluation more than 10 minutes behind").
            from alerts.registry import register_metric_source
            from quality.alerting import QualitySource

            register_metric_source(QualitySource())
