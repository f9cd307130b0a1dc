"""Example DAGs. Airflow parses only its dags folder: copy the ones you want there to use them."""
