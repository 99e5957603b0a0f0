"""The lab's state file (`<data-dir>/lab/state.json`): what the supervisor built and runs, for `lab status`,
`lab exec` and `lab down`. Written atomically (temp file + rename) so a reader never sees half of it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

VERSION = 1
DEFAULT_PREFIX = "psw-"
STATE_FILE = "state.json"
PID_FILE = "supervisor.pid"
SUPERVISOR_LOG = "supervisor.log"

# Phases, in order. `lab up` waits for RUNNING and then for every agent to be in sync.
STARTING = "starting"  # waiting for the controller
TOPOLOGY = "topology"  # writing the lab's switches, links and interface-groups into the intent
BUILDING = "building"  # namespaces, cables, servers, endpoints
AGENTS = "agents"  # starting one agent per switch
RUNNING = "running"  # built; watching the intent
STOPPED = "stopped"
FAILED = "failed"
PHASES = (STARTING, TOPOLOGY, BUILDING, AGENTS, RUNNING)


def lab_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / "lab"


def agent_log(lab: Path, switch: str) -> Path:
    return lab / f"agent-{switch}.log"


@dataclass
class LabState:
    prefix: str
    url: str
    spines: int = 2
    leaves: int = 4
    extra_servers: list[str] = field(default_factory=list)
    phase: str = STARTING
    error: str | None = None
    supervisor_pid: int | None = None
    revision: int | None = None  # the intent revision the lab last realised
    # switch -> {"netns", "role", "agent_pid", "log", "restarts"}
    switches: dict[str, dict[str, Any]] = field(default_factory=dict)
    # interface-group -> {"netns", "leaf", "port", "vlans"}
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # endpoint id -> {"netns", "short", "error", **EndpointSpec.to_json()}
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    updated_at: str = ""
    version: int = VERSION

    def namespaces(self) -> dict[str, str]:
        """Every lab namespace the state knows, by what it stands for."""
        out = {name: sw["netns"] for name, sw in self.switches.items()}
        out.update({name: srv["netns"] for name, srv in self.servers.items()})
        out.update({eid: ep["netns"] for eid, ep in self.endpoints.items()})
        return out

    def to_json(self) -> dict[str, Any]:
        # Shallow: the fields hold JSON values already, and `asdict`'s deep copy was most of a save (the
        # supervisor saves after every revision, on the path of the next endpoint).
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def save(lab: Path, state: LabState) -> None:
    lab.mkdir(parents=True, exist_ok=True)
    state.updated_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    tmp = lab / f".{STATE_FILE}.{os.getpid()}"
    # No indent: only the C encoder is fast, and it takes none (`lab status` is what people read).
    tmp.write_text(json.dumps(state.to_json(), sort_keys=True) + "\n")
    os.replace(tmp, lab / STATE_FILE)


def load(lab: Path) -> LabState | None:
    try:
        return LabState.from_json(json.loads((lab / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # a state file from another version, or damaged: act as if absent
        return None


def remove(lab: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (lab / STATE_FILE).unlink()


def read_pid(lab: Path) -> int | None:
    try:
        return int((lab / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_pid(lab: Path, pid: int) -> None:
    lab.mkdir(parents=True, exist_ok=True)
    (lab / PID_FILE).write_text(f"{pid}\n")


def remove_pid(lab: Path, pid: int | None = None) -> None:
    """Remove the pidfile (only if it still names `pid`, when given)."""
    if pid is not None and read_pid(lab) != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        (lab / PID_FILE).unlink()
