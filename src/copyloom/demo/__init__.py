"""`copyloom demo`: the whole loop on embedded defaults, with a simulated Braze broadcast.

`run` sets up a temporary store, a real HTTP server, a tenant and an experiment with known true click
rates, and shows the send as it goes; `braze` is the simulated Braze (its own process) and the
simulated clock it shares with the API; `segments` holds what `--segments` adds (the country field, the
figures per segment).
"""

from copyloom.demo.run import run_demo

__all__ = ["run_demo"]
