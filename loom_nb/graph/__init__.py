"""The decision graph and run history in DuckDB: recorded live from the event bus, read back as
pandas DataFrames. duckdb and pandas load on first use."""

from ._decisions import DecisionGraph, Edge, Node, Pulse
from ._read import Graph, open_graph
from ._recorder import Recorder
from ._schema import EDGE_TYPES, MIGRATIONS, NODE_STATUSES, NODE_TYPES, SESSION_STATUSES, Migration
from ._spool import load_spool
from ._store import GraphBusy, GraphError, GraphFileError, GraphStore, SchemaTooNew, default_path

__all__ = [
    "EDGE_TYPES",
    "MIGRATIONS",
    "NODE_STATUSES",
    "NODE_TYPES",
    "SESSION_STATUSES",
    "DecisionGraph",
    "Edge",
    "Graph",
    "GraphBusy",
    "GraphError",
    "GraphFileError",
    "GraphStore",
    "Migration",
    "Node",
    "Pulse",
    "Recorder",
    "SchemaTooNew",
    "default_path",
    "load_spool",
    "open_graph",
]
