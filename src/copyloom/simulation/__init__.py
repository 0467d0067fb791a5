"""Simulated sends driving the engine as the learner does: the simulator (`simulate`), the oracle told the
true rates (`oracle`) and the send planner (`planner`). Pure: no IO; below the services, so that the
dashboard can plan a send, and beside the engine, which never imports it. The benchmarks (`copyloom.bench`)
are built on it.
"""
