"""The online service: terminals on WebSocket, presence, routing.

``protocol`` is import-light (the SDK uses it); the rest is the server's.
"""
