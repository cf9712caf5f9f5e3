"""Serving HTTP: the Django view, the direct ASGI path (``registry.asgi()``) and the
project's middleware around it, content negotiation, request components, responses.
"""
