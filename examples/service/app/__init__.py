"""shipflow's example service: a small web service with a database, shipped by ``inv deploy``.

``GET /`` says which environment, release and container answered; ``GET /health`` is 200 once the
service has booted and its database answers, 503 before that. Standard library HTTP, SQLAlchemy for the
database, python-dotenv for settings.
"""
