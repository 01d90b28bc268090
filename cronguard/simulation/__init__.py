"""The local simulation: the synthesized state machines running on the local engine."""
