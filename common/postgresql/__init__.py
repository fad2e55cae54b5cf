"""PostgreSQL as Django's backend, through a pool where waiting for a busy connection is queueing:
see pool.QueueingPool. Settings name it as the ENGINE (`common.postgresql`)."""
