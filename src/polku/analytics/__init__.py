"""Journey analytics: funnels, velocity, paths, variants, pain points and attribution.

Every analytic is a pure function (or a typed query's ``run``) over the tables of
``polku.analytics.tables.Tables``, written as Ibis expressions so that the same code
runs on the embedded DuckDB today and on PostgreSQL or Spark later.
"""
