-- The tables of a typical line-of-business app, for examples/sql-mariadb.yaml
-- (MariaDB / MySQL). scimgate never changes this schema; it checks at startup
-- that every configured table and column exists (or, with create_schema:
-- true, creates missing tables for a fresh app).
--
--   mariadb -u root hrapp < examples/sql-schema.sql

CREATE TABLE app_users (
  id           VARCHAR(64)  NOT NULL PRIMARY KEY,  -- anchor: a UUID scimgate generates, never changed
  scim_id      VARCHAR(255) NULL UNIQUE,           -- the gateway's SCIM id of the user
  login        VARCHAR(255) NOT NULL UNIQUE,       -- userName: renames keep the anchor
  email        VARCHAR(255) NULL,
  first_name   VARCHAR(100) NULL,
  last_name    VARCHAR(100) NULL,
  display_name VARCHAR(255) NULL,
  department   VARCHAR(100) NULL,
  job_title    VARCHAR(100) NULL,
  status       VARCHAR(16)  NOT NULL DEFAULT 'active'  -- 'active' or 'suspended'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A multi-valued attribute: a row per phone number.
CREATE TABLE app_user_phones (
  user_id VARCHAR(64) NOT NULL,
  phone   VARCHAR(64) NOT NULL,
  KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE app_groups (
  id      VARCHAR(64)  NOT NULL PRIMARY KEY,
  scim_id VARCHAR(255) NULL UNIQUE,
  name    VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE app_group_members (
  group_id VARCHAR(64) NOT NULL,
  user_id  VARCHAR(64) NOT NULL,
  PRIMARY KEY (group_id, user_id),
  KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
