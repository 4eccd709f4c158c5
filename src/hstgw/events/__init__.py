"""Events: what happens in an app, kept in order (the event log) and told to whoever
listens (the event gateway's subscribers, webhooks). See docs/events.md."""
