"""Champion/challenger governance: one implementation for the pipeline and for people on call.

The ``promote`` task and the ``promote``/``rollback``/``lineage`` commands all move or read
``@champion`` through this package, so a forced promotion at 3 a.m. leaves the same audit
trail (version tags plus a history on the registered model) as a scheduled one, and the
"same gates" the CLI applies are the rules the pipeline recorded, not a copy of them.

- ``registry``: reads of registered models, versions and aliases;
- ``history``: the promotion history kept on the registered model;
- ``recheck``: the gate a version's pipeline recorded, re-applied today;
- ``promotion``: moving ``@champion`` (promote, request a promotion, roll back);
- ``lineage``: everything recorded about where a version came from, across environments;
- ``environments``, ``copy_version``, ``regate``, ``across``: promotion from one declared
  environment's registry into the next (reach, deep copy, re-gate on its holdout, approve, move);
- ``across_view``: read-only views across environments (what an approver is asked, the UI's page);
- ``cli``: the plumbing the on-call commands share.

Functions take an ``MlflowClient`` so they can be pointed at any store; mlflow itself is
imported only inside functions, because the promote operator imports this package at DAG
parse time.
"""
