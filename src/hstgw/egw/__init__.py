"""The event gateway: a developer's backend subscribes to its apps' events over a
WebSocket (the platform's 事件网关接口; docs/events.md). ``protocol`` holds the names
and numbers, shared with the SDK; the rest is the server's."""
