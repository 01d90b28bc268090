"""Releases what an execution still holds after it ends outside the state machine."""
