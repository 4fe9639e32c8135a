"""Saved searches and alerts: rules, store, service, pages, feed, and the consumer and digest job."""
