"""Development tooling, kept apart from the modules the chapters teach: the benchmarks
(``bench``, ``likelihood_bench``), notebook execution and exercise generation (``nbtools``) and
the pytest plugin that prepares nbval runs (``pytest_plugin``)."""
