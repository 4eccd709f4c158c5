"""Webhooks: a developer's endpoints hear each app's events, signed, in order, at least
once (docs/webhooks.md).

models.py: requests and results; service.py: Webhooks, the rules (each entry point
takes its caller's dev_id); signature.py: the ``Hst-Signature`` header (pure; the SDK's
``verify`` uses it too); targets.py: which addresses may be called (SSRF);
sender.py: one HTTP attempt; backoff.py: when to try again; leases.py: which node
delivers an endpoint; delivery.py: the workers.

This ``__init__`` imports nothing, so that the SDK may import ``signature`` alone.
"""
