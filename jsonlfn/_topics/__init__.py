"""Topics: publish events anywhere, fan them out to every subscriber, resume by id;
in this process or in Redis Streams.
"""
