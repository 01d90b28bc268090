"""The guard: claims a slot in the ledger and applies the job's concurrency."""
