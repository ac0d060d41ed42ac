"""``python -m torch.distributed.run`` (torchrun) with each agent stalled for a moment inside
the agents' exit barrier, between checking in and waiting, as an agent short of CPU can be;
and, with ``NETWRIGHT_BARRIER_LATE_S``, late to check in at all, as an agent that notices its
processes' end late can be (a slow process teardown, a long ``--monitor-interval``).

The agent on the first machine hosts the store the barrier runs on. The two-node test runs
through this so that it fails whenever that agent may leave while another still needs the
store (pytorch/pytorch#69520), not only on the rare run where the timing falls that way.
``NETWRIGHT_BARRIER_STALL_S`` sets the stall (default 0.5 s), ``NETWRIGHT_BARRIER_LATE_S`` the
delay before checking in (default 0). Where torch's barrier has another shape, torchrun runs
unchanged."""
from __future__ import annotations

import os
import sys
import time

from torch.distributed.elastic.utils import store
from torch.distributed.run import main

STALL_S = float(os.environ.get("NETWRIGHT_BARRIER_STALL_S", "0.5"))
LATE_S = float(os.environ.get("NETWRIGHT_BARRIER_LATE_S", "0"))
_check_in = getattr(store, "_barrier_nonblocking", None)

if _check_in is not None:
    def _stalled_check_in(*args, **kwargs):
        time.sleep(LATE_S)
        key = _check_in(*args, **kwargs)
        time.sleep(STALL_S)
        return key

    store._barrier_nonblocking = _stalled_check_in

if __name__ == "__main__":
    sys.exit(main())
