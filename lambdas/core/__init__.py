"""The runtime's shared core: what more than one handler (or the CLI) must agree on.

Schedule semantics (``schedule``, ``missed``), slot times (``times``, ``trigger``), the
contracts every side imports (``*_contract``, ``variables``), and the ledger, pause record,
outcomes and ECS task calls the guard and the cleanup share. Handler folders import this
package and never each other; nothing here imports a handler.
"""
