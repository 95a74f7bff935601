"""What is firing now, for other pages (the dashboards' Overview): one small read of a project's
open incidents, served by the alerts_incident_open partial index."""
from __future__ import annotations

from dataclasses import dataclass, field

from alerts.models import Incident

SHOWN = 5


@dataclass
class Firing:
    count: int
    critical: int
    incidents: list[Incident] = field(default_factory=list)  # the newest SHOWN, newest first

    @property
    def more(self) -> int:
        return self.count - len(self.incidents)


def firing_now(*, project_id: int) -> Firing:
    """Open incidents of the project: counted, with the newest few (rule names) to link to."""
    rows = list(Incident.objects.filter(project_id=project_id, resolved_at__isnull=True)
                .select_related("rule").order_by("-opened_at")[:SHOWN + 1])
    if len(rows) <= SHOWN:
        count, critical = len(rows), sum(1 for i in rows if i.severity == "critical")
    else:  # more than a handful: count them all (still the open-incidents index only)
        open_ = Incident.objects.filter(project_id=project_id, resolved_at__isnull=True)
        count, critical = open_.count(), open_.filter(severity="critical").count()
    return Firing(count=count, critical=critical, incidents=rows[:SHOWN])
