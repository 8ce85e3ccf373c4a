"""The app's routers: one per resource under /api, plus the web pages."""
