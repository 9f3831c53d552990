-- Bootstrap step 1: compute, database and the schemas of the warehouse contract.
-- Run as a role that may create warehouses and databases (SYSADMIN). Idempotent.
USE ROLE SYSADMIN;

CREATE WAREHOUSE IF NOT EXISTS RETAIL_WH
  WAREHOUSE_SIZE = 'XSMALL'
  AUTO_SUSPEND = 60
  AUTO_RESUME = TRUE
  INITIALLY_SUSPENDED = TRUE
  COMMENT = 'Retail Control Tower pipelines and reporting';

CREATE DATABASE IF NOT EXISTS RETAIL_DB COMMENT = 'Retail Control Tower warehouse';

CREATE SCHEMA IF NOT EXISTS RETAIL_DB.BRONZE COMMENT = 'Raw rows as landed, append-only, with load metadata';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.SILVER COMMENT = 'Typed, deduplicated current rows and quarantine';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.MODEL COMMENT = 'Conformed dimensions and facts';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.GOLD COMMENT = 'Business views';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.ML COMMENT = 'Churn features, model registry mirror, metrics and scores';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.OPS COMMENT = 'Load log, data-quality results, run log';
CREATE SCHEMA IF NOT EXISTS RETAIL_DB.REPORTING COMMENT = 'Latest-run views for Power BI and Alteryx';
