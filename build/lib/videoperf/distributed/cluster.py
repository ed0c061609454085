"""Where the Dask path runs: ``cluster="local"`` (a ``LocalCluster`` on this machine) or ``"tcp://HOST:PORT"``
(the scheduler of a running cluster, see ``docs/dask.md``), or an already connected ``distributed.Client``.

Only the Dask entry points (``videoperf.distributed.data``, ``dask_training``, ``dask_scoring``) import this module, and
it imports ``distributed`` inside ``open_client``: the single-machine path never loads Dask.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

LOCAL_WORKERS = 2
_ADDRESS = re.compile(r"^(tcp|tls)://[^:/\s]+:\d{1,5}$")


def check_cluster(cluster: Any) -> Any:
    """``cluster`` as given when it is ``"local"``, a scheduler address or a ``Client``; ``ValueError`` otherwise."""
    if isinstance(cluster, str):
        if cluster == "local" or _ADDRESS.match(cluster):
            return cluster
        raise ValueError(f"cluster: {cluster!r} is neither 'local' nor a scheduler address tcp://HOST:PORT")
    if type(cluster).__name__ == "Client" and hasattr(cluster, "scheduler_info"):
        return cluster
    raise ValueError(f"cluster: expected 'local', 'tcp://HOST:PORT' or a distributed.Client, "
                     f"got {type(cluster).__name__}")


@contextlib.contextmanager
def open_client(cluster: Any, *, n_workers: int = LOCAL_WORKERS, memory_limit: str | int = "auto",
                processes: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``; a cluster started here (``"local"``) is closed on exit.

    ``"local"``: ``n_workers`` workers of one thread each (one per core on this 2-core machine), each held to
    ``memory_limit`` (Dask pauses a worker at 80% of it and restarts one at 95%). ``processes=False`` keeps the
    workers in this process (tests). A given ``Client`` is used as it is and left open.
    """
    cluster = check_cluster(cluster)
    # A p2p shuffle logs a warning whenever it starts and ends; they are progress, not problems.
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    if not isinstance(cluster, str):
        yield cluster
        return
    from distributed import Client, LocalCluster

    if cluster != "local":
        try:
            client = Client(cluster, timeout="30s")
        except OSError as error:
            raise ValueError(f"cluster: cannot reach the scheduler at {cluster} ({error})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, memory_limit=memory_limit, processes=processes,
                      dashboard_address=None) as local, Client(local) as client:
        yield client
