"""What cronguard does against a deployed environment, apart from the command line:
``environment`` (the AWS clients, the ledger reads, starting a run), ``status``,
``catch_up`` (catch-up and backfill: the one start path, pacing, bounds), ``pause``,
``redrive`` and ``dead_letters`` (the dead-letter queue and what its messages mean)."""
