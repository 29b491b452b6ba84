"""The docs site: reference pages (every task and flag, every setting) generated from the code by
``python -m shipflow.docs``, then mkdocs building, serving or publishing the guide."""
