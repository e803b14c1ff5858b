"""The operator surface: the REST API and the page, mounted in Airflow's API server by plugins/."""
