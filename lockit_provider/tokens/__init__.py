"""Where token records live inside Airflow: the Variable store and the Connection's extras."""
