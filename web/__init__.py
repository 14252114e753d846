"""The web app sellers and operators use: server-rendered pages (Jinja2) with htmx partial
updates, served by the API process under ``/``. Pages call the same workspace rules as the
API's routes; no page reads the database by itself."""
