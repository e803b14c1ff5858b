"""The Google Ads client (the official google-ads library). Knows nothing of Airflow."""
