"""shipflow's example service: a small web service with a database, shipped by ``inv deploy``.

``GET /`` says which environment, release and container answered; ``GET /health`` is 200 once the
service has booted and its database answers, 503 before that; ``POST /notes`` and ``GET /notes`` write
and list notes. Served by gunicorn (gthread workers, :mod:`app.server`), the routes in :mod:`app.wsgi`,
SQLAlchemy Core for the database, python-dotenv for settings.
"""
