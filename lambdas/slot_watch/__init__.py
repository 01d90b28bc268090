"""Finds the slots a job's schedule was due to fire that never reached the ledger."""
