"""The generated reference pages and the docs site's build."""
