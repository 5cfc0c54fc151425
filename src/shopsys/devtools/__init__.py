"""Development tooling, not part of the product: the roles never import it.

``provision`` builds and caches Kafka, FerretDB and helm; ``process`` is the one supervisor
for every local server (the provisioned ones and the ``shopsys`` roles); ``local_system`` is
``shopsys dev``. The test suites use the same pieces.
"""
