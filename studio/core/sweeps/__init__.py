"""Hyperparameter sweeps: a sweep file (spec), its Optuna study (study), and the driver that runs its trials through the queue (driver)."""
