"""The scheduler: what Trent promises over time, done without anyone calling.

``jobs.py`` performs what is due (automatic rotations, deletions at the end of the waiting
period), each in its own transaction that re-checks that it is still due, so running it twice
is harmless. ``runner.py`` runs the jobs in the background of every worker, but only the worker
holding the lease (a row in storage, renewed every tick) does the work: exactly one active
scheduler per database.
"""

from trent.scheduler.jobs import Event, run_due
from trent.scheduler.runner import Scheduler

__all__ = ["Event", "Scheduler", "run_due"]
