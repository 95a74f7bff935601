"""The demo seed creates a review queue whose rules route some of the demo's calls."""
from __future__ import annotations

from typing import Any

import pytest

from dashboards.demo import demo_seed
from review.models import Item, Queue

pytestmark = pytest.mark.django_db


def test_the_demo_seed_makes_a_queue_with_routed_items(project: Any, prices: None) -> None:
    demo_seed(project_id=project.id, calls=40, days=0.5, seed=7)
    queue = Queue.objects.get(project=project)
    assert queue.rules.count() == 3
    items = Item.objects.filter(queue=queue)
    assert items.exists()
    assert items.filter(call__external_id="demo-injection").exists()  # a flagged showcase call
    demo_seed(project_id=project.id, calls=10, days=0.5, seed=8)
    assert Queue.objects.filter(project=project).count() == 1
