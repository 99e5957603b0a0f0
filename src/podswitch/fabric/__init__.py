"""The fabric compiler: intent + topology -> desired state of every switch. Pure, no I/O."""

from .allocate import allocate, merged
from .compile import Compiled, compile
from .state import DesiredState, SwitchState

__all__ = ["Compiled", "DesiredState", "SwitchState", "allocate", "compile", "merged"]
