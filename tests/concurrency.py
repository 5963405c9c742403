"""Run real ledger writes at the same time, each worker thread on its own database connection."""

import threading

from django.db import connections


def run_concurrently(jobs, *, workers):
    """Run the callables in `jobs` on `workers` threads that start together; return
    (results, errors) with one entry per job, in job order.

    Each thread has its own Django connection (connections are per thread), so the jobs really
    contend in PostgreSQL; a barrier lines them up so they collide instead of trickling in.
    """
    results, errors = [None] * len(jobs), [None] * len(jobs)
    barrier = threading.Barrier(workers)

    def worker(offset):
        try:
            barrier.wait()
            for index in range(offset, len(jobs), workers):
                try:
                    results[index] = jobs[index]()
                except Exception as exc:  # collected: a deadlock or a 500 must fail the test
                    errors[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
