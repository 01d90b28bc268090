"""Finds work whose ECS task died (OOM, kill) or went silent, and marks it ORPHANED."""
