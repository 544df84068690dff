"""What every benchmark shares: one thread per worker, and running tasks over processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def limit_threads() -> None:
    """One BLAS / OpenMP / torch thread per process: two workers share two cores."""
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def run_tasks(run_one: Callable[[Any], dict[str, Any]], tasks: Sequence[Any], workers: int,
              describe: Callable[[dict[str, Any]], str],
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run ``run_one`` on every task over ``workers`` processes (in this process when 1).

    ``run_one`` must be importable (a module-level function) and return a dict with
    ``seconds`` and ``error`` (``None`` or a tuple ending with the traceback); ``describe`` names a
    result in the progress line. Results come back in the order they finish.
    """
    results: list[dict[str, Any]] = []

    def report(result: dict[str, Any]) -> None:
        status = "FAILED " + " ".join(map(str, result["error"][:-1]))[:200] if result["error"] else "ok"
        log(f"[{len(results)}/{len(tasks)}] {describe(result)} {result['seconds']:6.1f}s {status}")

    if workers == 1:
        for task in tasks:
            results.append(run_one(task))
            report(results[-1])
        return results
    import multiprocessing

    # spawn, not fork: a forked child of a process that already ran torch/OpenMP can hang
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=limit_threads)
    try:
        for result in pool.imap_unordered(run_one, tasks):
            results.append(result)
            report(result)
        pool.close()  # let the workers exit cleanly (terminate() leaks their semaphores)
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return results
