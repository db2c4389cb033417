//! A fresh PostgreSQL database per test (filled in by the store work).
