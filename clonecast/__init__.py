"""clonecast: forecast per-workload demand and clone containers before the requests arrive.

This package holds the command line and the settings only; the stages live in sibling packages
(`traces`, `data_checks`, `models`, `policy`, `actuators`, `flows`).
"""

__version__ = "0.1.0"
