"""The fabric compiler: intent + topology -> desired state of every switch. Pure, no I/O."""

from .allocate import allocate, merged
from .compile import Compiled, compile
from .state import DesiredState, SwitchState, parse_desired, serialize

__all__ = ["Compiled", "DesiredState", "SwitchState", "allocate", "compile", "merged", "parse_desired", "serialize"]
