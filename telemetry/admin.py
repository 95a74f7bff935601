from django.contrib import admin

from telemetry.models import Call, Feedback, Score, Trace


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "kind", "model", "status", "start_time", "latency_ms", "cost_total_usd"]
    list_filter = ["kind", "status", "cost_source"]
    search_fields = ["external_id", "trace_id"]
    show_full_result_count = False  # count(*) over millions of rows would make the page crawl
    list_select_related = ["project"]
    readonly_fields = [f.name for f in Call._meta.fields]


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = ["trace_id", "project", "name", "start_time", "call_count"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Trace._meta.fields]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["name", "value", "label", "source", "call_external_id", "created_at"]
    show_full_result_count = False
    raw_id_fields = ["call"]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["call_external_id", "thumbs", "rating", "end_user_id", "created_at"]
    show_full_result_count = False
    raw_id_fields = ["call"]
