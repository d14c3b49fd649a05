"""The notebook face: magics, the swarm runner thread, handles (widgets come with the live view)."""

from ._runner import SwarmHandle, SwarmRunner, default_runner

__all__ = ["SwarmHandle", "SwarmRunner", "default_runner"]
