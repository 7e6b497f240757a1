"""PostgreSQL: the pool and unit of work, the tables, the migrations, and each change's SQL."""
