"""Locust user for the suite: each task publishes one workflow through the load gateway
(bench/load_gateway.py) and its response time is publish->terminal. `constant_pacing` makes
every user start one workflow per pacing period, so users = rate x pacing gives an open-ish
arrival rate as long as latency stays under the pacing (when it does not, the achieved rate
drops - which is what back-pressure looks like from outside). Run through bench/load.py."""
from __future__ import annotations

import os

from locust import FastHttpUser, constant_pacing, task

PACING_S = float(os.environ.get("UF_LOAD_PACING_S", "30"))
TIMEOUT_S = float(os.environ.get("UF_LOAD_TIMEOUT_S", "600"))


class WorkflowUser(FastHttpUser):
    wait_time = constant_pacing(PACING_S)
    network_timeout = TIMEOUT_S + 30
    connection_timeout = 10.0

    @task
    def workflow(self) -> None:
        with self.client.post(f"/workflow?timeout={TIMEOUT_S:.0f}", name="publish->terminal", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {(r.text or '')[:120]}")
