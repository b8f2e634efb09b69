"""The run queue: jobs that wait for their devices and start one after another (store,
devices, runner)."""
