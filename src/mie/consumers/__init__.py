"""Change-stream consumers: the search and media indexes, notifications, webhooks."""
