from __future__ import annotations

from django.apps import AppConfig, apps


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review queues"

    def ready(self) -> None:
        from quality.batch import register_after_evaluation
        from review.routing import after_evaluation, feedback_after_run
        from telemetry.services import register_after_run

        # Routing runs in the evaluation's transaction, after its scores and flags are written
        # (quality never imports review).
        register_after_evaluation(after_evaluation)
        # Feedback arriving after evaluation: drained after every processing run (feedback can arrive alone).
        register_after_run(feedback_after_run, always=True)
        # Queue health for alert rules, where the alerts app is installed (it never imports review).
        if apps.is_installed("alerts"):
            from alerts.registry import register_metric_source
            from review.alerting import ReviewSource

            register_metric_source(ReviewSource())
            # "Sample into a queue": an opening incident's calls go to the incident rules' queues.
            from alerts.registry import register_action
            from review.incidents import sample_action

            register_action("sample_into_queue", sample_action)
