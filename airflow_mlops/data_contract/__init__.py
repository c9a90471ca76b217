"""The data contract of a pipeline: which columns, of which types, feed which target.

Bad data must stop a run before training, with a message that names the column and the
rule, instead of training a model on it (issue #14). This package is the pure logic of that
promise: :mod:`.model` holds the contract (built from a frame, from the YAML, or from the
champion's MLflow signature), :mod:`.checks` compares a frame with it and returns every
problem at once, :mod:`.header` reads a file's raw header before pandas renames duplicates.

It imports no Airflow and no MLflow, and pandas/numpy/scikit-learn only inside functions,
so the spec (through :mod:`.vocabulary`) and the DAG processor can import it for free. The
issues are data; the operator that runs the checks decides to raise.
"""
