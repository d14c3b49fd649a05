"""The spawn estimate: what a plan is expected to cost before it starts, from per-role priors.

Priors are tokens per task by role, learned from the tasks of earlier recorded runs of the project
(their agents' calls in `llm_calls`), else defaults; tokens are priced with the model each role uses
now, so a run on a cheaper model is estimated cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._plan import Task

if TYPE_CHECKING:
    from ._swarm import Swarm

__all__ = ["DEFAULT_TOKENS", "Estimate", "estimate", "role_priors"]

DEFAULT_TOKENS: dict[str, int] = {
    "researcher": 30_000,
    "architect": 40_000,
    "implementer": 80_000,
    "tester": 25_000,
    "reviewer": 30_000,
}
"""Tokens per task when no earlier run says otherwise (a role not listed: 40,000)."""
OTHER_ROLE_TOKENS = 40_000
OUTPUT_SHARE = 0.15
"""Of a task's tokens, the share that is output (priced at the output rate)."""


@dataclass(frozen=True)
class Estimate:
    usd: float | None
    tokens: int
    basis: str


def role_priors(store: Any, exclude_session: str = "") -> tuple[dict[str, tuple[float, int]], int]:
    """{role: (mean tokens per done task, tasks seen)} from earlier runs, and how many runs they came from."""
    if store is None or not store.path.exists():
        return {}, 0
    try:
        with store.connect() as con:
            has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'tasks'").fetchone()[0]
            if not has:
                return {}, 0
            rows = con.execute(
                """
                WITH tok AS (
                    SELECT session_id, agent,
                           sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) AS tokens
                    FROM llm_calls WHERE error IS NULL GROUP BY session_id, agent)
                SELECT t.role, avg(tok.tokens), count(*), count(DISTINCT t.session_id)
                FROM tasks t JOIN tok ON tok.session_id = t.session_id AND tok.agent = t.agent
                WHERE t.status = 'done' AND t.session_id <> ?
                GROUP BY t.role
                """,
                [exclude_session],
            ).fetchall()
    except Exception:  # an estimate never stops a run
        return {}, 0
    runs = max((r[3] for r in rows), default=0)
    return {r[0]: (float(r[1]), int(r[2])) for r in rows if r[1] is not None}, runs


def estimate(tasks: list[Task], swarm: Swarm) -> Estimate:
    priors, runs = role_priors(getattr(swarm, "store", None), swarm.session_id)
    usd: float | None = 0.0
    total = 0
    learned = 0
    for task in tasks:
        if task.role in priors:
            tokens = int(priors[task.role][0])
            learned += 1
        else:
            tokens = DEFAULT_TOKENS.get(task.role, OTHER_ROLE_TOKENS)
        total += tokens
        price = swarm.model_for(swarm.book.get(task.role)).price
        if price is None or usd is None:
            usd = None
            continue
        out = tokens * OUTPUT_SHARE
        usd += (tokens - out) * price.input + out * price.output  # prices are USD per token
    seen = sum(n for _, n in priors.values())
    if learned:
        basis = f"priors from {seen} task{'s' * (seen != 1)} of {runs} earlier run{'s' * (runs != 1)}"
        if learned < len(tasks):
            basis += f"; defaults for {len(tasks) - learned} task{'s' * (len(tasks) - learned != 1)}"
    else:
        basis = "default priors (no earlier runs of these roles recorded)"
    return Estimate(usd=usd, tokens=total, basis=basis)
