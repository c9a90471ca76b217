"""scikit-learn glue, imported only inside tasks."""
