//! Helpers shared by the integration tests: fresh databases and queue names per test.
#![allow(dead_code)]
pub mod admin;
pub mod amqp;
pub mod daemon;
pub mod db;
pub mod engine;
pub mod faults;
