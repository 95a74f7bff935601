"""The web UI, one module per page family. Views stay thin: parse the request (dashboards.context),
call selectors, build figures (dashboards.charts), render."""
