"""A job stack's template, rendered from config in plain Python, one module per concern.

``template`` composes them (``JobStackTemplate``); each concern module has one public
function that renders its part of every job of the stack: ``task`` (the task definition, its
container and secrets), ``iam`` (the roles and their statements), ``guard`` (the guard
Lambda), ``state_machine``, ``schedule``, ``monitoring`` (the log groups and the alarm) and
``handles``. What they exchange — fragments of the template and a job's names — is in
``shapes``, and the CloudFormation intrinsics they write in ``cloudformation``.
"""
