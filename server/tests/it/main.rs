//! Integration tests: the real server on an ephemeral loopback port, spoken
//! to over HTTP like any client would.

mod harness;
mod rooms_and_sync;
mod room_reads;
mod accounts;
mod account_data;
mod ephemeral;
mod moderation;
mod keys;
mod key_backup;
mod media;
mod directory;
mod crash;
mod http_conventions;
mod startup;
mod config_file;
mod voip;
mod history_leaks;
mod restricted_joins;
mod attacks;
