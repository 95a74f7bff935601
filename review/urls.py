from django.urls import path, register_converter

from review import apis, views


class Segment:
    """Any one path segment: ids and names are checked by the API views, so a malformed one gets the
    API's JSON 404 rather than Django's HTML page for an unknown URL."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(Segment, "seg")

urlpatterns = [
    # API (docs/api.md, "Review")
    path("api/v1/queues", apis.QueueListApi.as_view(), name="api-review-queues"),
    path("api/v1/queues/<seg:queue_id>", apis.QueueApi.as_view(), name="api-review-queue"),
    path("api/v1/queues/<seg:queue_id>/rules", apis.RuleListApi.as_view(), name="api-review-rules"),
    path("api/v1/queues/<seg:queue_id>/rules/<seg:rule_id>", apis.RuleApi.as_view(), name="api-review-rule"),
    path("api/v1/queues/<seg:queue_id>/rules/<seg:rule_id>/backfill", apis.BackfillApi.as_view(),
         name="api-review-backfill"),
    path("api/v1/queues/<seg:queue_id>/items", apis.ItemListApi.as_view(), name="api-review-items"),
    path("api/v1/queues/<seg:queue_id>/items/next", apis.NextItemApi.as_view(), name="api-review-next"),
    path("api/v1/queues/<seg:queue_id>/items/<seg:item_id>/submit", apis.SubmitApi.as_view(),
         name="api-review-submit"),
    path("api/v1/queues/<seg:queue_id>/items/<seg:item_id>/skip", apis.SkipApi.as_view(), name="api-review-skip"),
    path("api/v1/queues/<seg:queue_id>/items/<seg:item_id>/resolve", apis.ResolveApi.as_view(),
         name="api-review-resolve"),
    path("api/v1/datasets", apis.DatasetListApi.as_view(), name="api-datasets"),
    path("api/v1/datasets/<seg:name>", apis.DatasetApi.as_view(), name="api-dataset"),
    path("api/v1/datasets/<seg:name>/items", apis.DatasetItemAddApi.as_view(), name="api-dataset-item-add"),
    path("api/v1/datasets/<seg:name>/versions", apis.VersionListApi.as_view(), name="api-dataset-versions"),
    path("api/v1/datasets/<seg:name>/versions/<seg:version>/items", apis.VersionItemsApi.as_view(),
         name="api-dataset-items"),
    path("api/v1/datasets/<seg:name>/versions/<seg:version>/download", apis.VersionDownloadApi.as_view(),
         name="api-dataset-download"),
    # Pages
    path("projects/<int:project_id>/review/", views.queues, name="review-queues"),
    path("projects/<int:project_id>/review/new", views.queue_edit, name="review-queue-new"),
    path("projects/<int:project_id>/review/add", views.add_call, name="review-add-call"),
    path("projects/<int:project_id>/review/datasets/add", views.add_to_dataset, name="review-add-to-dataset"),
    path("projects/<int:project_id>/review/<int:queue_id>/", views.queue_page, name="review-queue"),
    path("projects/<int:project_id>/review/<int:queue_id>/edit", views.queue_edit, name="review-queue-edit"),
    path("projects/<int:project_id>/review/<int:queue_id>/rules", views.rule_add, name="review-rule-add"),
    path("projects/<int:project_id>/review/<int:queue_id>/rules/<int:rule_id>", views.rule_change,
         name="review-rule-change"),
    path("projects/<int:project_id>/review/<int:queue_id>/next", views.next_item, name="review-next"),
    path("projects/<int:project_id>/review/<int:queue_id>/items/<int:item_id>", views.item_page, name="review-item"),
    path("projects/<int:project_id>/review/<int:queue_id>/export", views.export, name="review-export"),
    path("projects/<int:project_id>/review/datasets/<slug:name>/<int:version>.<str:fmt>", views.dataset_download,
         name="review-dataset-download"),
]
