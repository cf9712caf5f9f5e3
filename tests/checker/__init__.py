"""An exactly-once checker for topics: real processes, a seeded schedule of faults, and
a verdict over everything the clients received.

- ``record``: what a run records; ``check``: the verdict over a recording;
- ``processes``: the redis-server, uvicorn workers and publishers (``publisher``);
- ``clients``: the clients; ``schedule``: the operations a seed draws;
- ``run``: plays a schedule and checks it; ``result``: its summary and first violation.

``python -m tests.checker --seed N`` replays the schedule of seed N (``__main__``);
tests/test_checker.py runs a small one in ``make test``, ``make soak`` a long one.
"""
