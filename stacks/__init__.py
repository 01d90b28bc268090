"""CDK constructs and stacks. Stacks only compose constructs; each construct owns one concern."""
