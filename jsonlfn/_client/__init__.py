"""The consumer side (``jsonlfn.client``): reading streams, reconnecting. Imports no
Django and nothing of the server."""
