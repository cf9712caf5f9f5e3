"""The stream loop: runs a stream function in its own Task, writes its items as lines,
and hands a server batches of whole lines (pings, send timeout, gzip, shutdown, capacity).
"""
