"""The engine: catalog, executions, and the scheduler that admits executions and runs their stages' tasks."""
