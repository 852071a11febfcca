"""Harnesses for SQL Server clients the project did not write (tedious, mssql-python)."""
