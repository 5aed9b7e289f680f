//! Integration tests: the real server on an ephemeral loopback port, spoken
//! to over HTTP like any client would.

mod account_data;
mod accounts;
mod attacks;
mod config_file;
mod crash;
mod directory;
mod ephemeral;
mod harness;
mod history_leaks;
mod http_conventions;
mod key_backup;
mod keys;
mod media;
mod moderation;
mod restricted_joins;
mod room_reads;
mod rooms_and_sync;
mod startup;
mod voip;
