"""Example DAGs: copy them into your dags folder (they ship in the package, but Airflow parses only its dags folder)."""
