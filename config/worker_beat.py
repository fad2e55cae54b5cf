"""Beat inside every Celery worker, one of them sending at a time.

The schedule and a lock live in Redis (RedBeat, `CELERY_BEAT_SCHEDULER`): each worker runs Celery's
beat service in a thread of its own (a greenlet under the gevent pool), the one holding the lock
sends the periodic tasks, the others wait for it. When that worker is gone its lock expires and
another worker's beat takes over; a worker that stops hands the lock over as it goes. There is no beat
process to run, to keep single or to restart, and no schedule file.

Celery's own `-B` would fork a process for beat and refuses a gevent pool for that reason.
"""

import logging
import threading

from celery import bootsteps

logger = logging.getLogger(__name__)


class WorkerBeat(bootsteps.StartStopStep):
    """The worker's bootstep: starts its beat with the worker, stops it (releasing the lock if
    this worker held it) before the worker's connections close."""

    label = "Beat"

    def __init__(self, worker, **kwargs) -> None:
        self.beat: _Beat | None = None
        super().__init__(worker, **kwargs)

    def start(self, worker) -> None:
        self.beat = _Beat(worker.app)
        self.beat.start()

    def stop(self, worker) -> None:
        if self.beat is not None:
            self.beat.stop()

    shutdown = stop


class _Beat(threading.Thread):
    """Celery's beat service, started again whenever it stops by itself: it does when Redis is
    away (a tick cannot reach the schedule or extend the lock) or when Redis lost its data (the
    lock and the schedule with it; a new start writes the schedule again and waits for the lock).
    A beat that stayed down would leave the audit chain unsealed and the outbox unswept."""

    def __init__(self, app) -> None:
        super().__init__(name="Beat", daemon=True)
        self.app = app
        self.interval = float(app.conf.beat_max_loop_interval)
        self.stopping = threading.Event()
        self.service = None

    def run(self) -> None:
        from celery.beat import Service

        self.app.set_current()
        while not self.stopping.is_set():
            self.service = Service(
                self.app, max_interval=self.interval, scheduler_cls=self.app.conf.beat_scheduler
            )
            try:
                self.service.start()
            except Exception:
                logger.warning(
                    "beat stopped; it starts again in %.0f s", self.interval, exc_info=True
                )
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        service = self.service
        if service is None:
            return
        service.stop()
        # A service past its start signal holds the lock (Celery records the interval it settled
        # on just after it): it wakes within an interval, closes its scheduler and so releases
        # the lock for another worker. Only it can: redis-py keeps a lock's token per thread.
        # One still waiting for the lock holds nothing to hand over.
        if service.effective_max_interval is not None:
            self.join(timeout=self.interval + 2)
