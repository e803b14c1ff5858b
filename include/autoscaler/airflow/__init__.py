"""Everything that knows Airflow: connections, and later the task callables, sensor, trigger and notifier.

The rest of the package knows nothing of Airflow, so it runs and is tested without it.
"""
