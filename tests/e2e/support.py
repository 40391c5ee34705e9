"""End-to-end helpers live with the stack they drive (devstack/driver.py)."""

from devstack.driver import END, START, Env, types_for, wait_for

__all__ = ["END", "START", "Env", "types_for", "wait_for"]
