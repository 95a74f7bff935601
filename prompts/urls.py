"""Routes of the prompts app: the native API, the Langfuse-compatible API and the pages. A name
may hold '/' (folders), so the routes with a suffix come before the bare name."""
from django.urls import path

from observatory.api import ANY_ID
from prompts import apis, dataset_apis, langfuse_apis, subscription_apis, views

N = f"<{ANY_ID}:name>"
A = "api/v1/prompts"
L = "api/public/v2/prompts"
P = "projects/<int:project_id>/prompts/"

urlpatterns = [
    path(A, apis.PromptListApi.as_view(), name="prompts-api-list"),
    path("api/v1/prompt-subscriptions", subscription_apis.SubscriptionsApi.as_view(), name="prompts-api-subscriptions"),
    path(f"{A}/{N}/versions/<int:version>", apis.PromptVersionApi.as_view(), name="prompts-api-version"),
    path(f"{A}/{N}/versions", apis.PromptVersionsApi.as_view(), name="prompts-api-versions"),
    path(f"{A}/{N}/labels/<str:label>", apis.PromptLabelApi.as_view(), name="prompts-api-label"),
    path(f"{A}/{N}/diff", apis.PromptDiffApi.as_view(), name="prompts-api-diff"),
    path(f"{A}/{N}/render", apis.PromptRenderApi.as_view(), name="prompts-api-render"),
    path(f"{A}/{N}/experiments/<int:experiment_id>/ship", apis.ExperimentShipApi.as_view(),
         name="prompts-api-experiment-ship"),
    path(f"{A}/{N}/experiments/<int:experiment_id>/stop", apis.ExperimentStopApi.as_view(),
         name="prompts-api-experiment-stop"),
    path(f"{A}/{N}/experiments/<int:experiment_id>/results", apis.ExperimentResultsApi.as_view(),
         name="prompts-api-experiment-results"),
    path(f"{A}/{N}/experiments", apis.ExperimentsApi.as_view(), name="prompts-api-experiments"),
    path(f"{A}/{N}/guards/<int:guard_id>/rearm", apis.GuardRearmApi.as_view(), name="prompts-api-guard-rearm"),
    path(f"{A}/{N}/guards", apis.GuardsApi.as_view(), name="prompts-api-guards"),
    path(f"{A}/{N}/dataset-runs/<int:run_id>", dataset_apis.DatasetRunApi.as_view(), name="prompts-api-dataset-run"),
    path(f"{A}/{N}/dataset-runs", dataset_apis.DatasetRunsApi.as_view(), name="prompts-api-dataset-runs"),
    path(f"{A}/{N}", apis.PromptApi.as_view(), name="prompts-api-prompt"),
    path(L, langfuse_apis.LangfusePromptsApi.as_view(), name="langfuse-prompts"),
    path(f"{L}/{N}/versions/<int:version>", langfuse_apis.LangfusePromptVersionApi.as_view(),
         name="langfuse-prompt-version"),
    path(f"{L}/{N}", langfuse_apis.LangfusePromptApi.as_view(), name="langfuse-prompt"),
    path(P, views.prompt_list_page, name="prompts"),
    path(P + "new", views.prompt_new, name="prompts-new"),
    path(P + "events", views.subscriptions_view, name="prompts-events"),
    path(P + "<int:prompt_id>/", views.prompt_page, name="prompts-detail"),
    path(P + "<int:prompt_id>/versions/new", views.version_new, name="prompts-version-new"),
    path(P + "<int:prompt_id>/labels", views.label_move_view, name="prompts-label-move"),
    path(P + "<int:prompt_id>/diff", views.diff_page, name="prompts-diff"),
    path(P + "<int:prompt_id>/preview", views.preview, name="prompts-preview"),
    path(P + "<int:prompt_id>/guards/<int:guard_id>/rearm", views.guard_rearm_view, name="prompts-guard-rearm"),
    path(P + "<int:prompt_id>/guards/new", views.guard_new, name="prompts-guard-new"),
    path(P + "<int:prompt_id>/experiments/new", views.experiment_new, name="prompts-experiment-new"),
    path(P + "<int:prompt_id>/runs/<int:run_id>/", views.dataset_run_page, name="prompts-dataset-run"),
    path(P + "<int:prompt_id>/experiments/<int:experiment_id>/", views.experiment_page, name="prompts-experiment"),
    path(P + "<int:prompt_id>/experiments/<int:experiment_id>/end", views.experiment_end,
         name="prompts-experiment-end"),
]
