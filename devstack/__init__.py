"""The local dev harness: stack runner, driver, demo and emulator benchmark (not deployed)."""
