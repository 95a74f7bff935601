"""Browser helpers for the dashboards' own tests: a signed-in Chromium context without the login
form (the session cookie of a Django test client), at any viewport."""
from __future__ import annotations

from typing import Any

from django.test import Client


def signed_in_context(browser: Any, live_server: Any, user: Any, width: int = 1400, height: int = 1000,
                      **options: Any) -> Any:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context
