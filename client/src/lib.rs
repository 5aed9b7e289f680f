//! Weft's Matrix client engine, without any I/O.
//!
//! The browser app (`weft-web`) owns the network, storage and clock. This crate only turns
//! intentions into [`http::Request`]s, turns [`http::Response`]s back into typed results, and
//! keeps the client-side model of rooms and timelines that a `/sync` stream builds up. Keeping
//! it free of I/O lets every rule be unit-tested with JSON fixtures on the host.
//!
//! Entry points:
//! - [`auth`]: password login and registration (with User-Interactive Authentication), which
//!   produce a [`Session`].
//! - [`Engine`]: everything after sign-in — sync, rooms, invites, timelines, sending.

pub mod auth;
pub mod backoff;
pub mod blurhash;
pub mod call;
pub mod changes;
mod content;
pub mod crypto;
mod describe;
mod endpoint;
pub mod engine;
pub mod error;
mod event;
mod invite;
mod markdown;
pub mod media;
mod member;
pub mod messaging;
pub mod people;
pub mod preview;
pub mod requests;
pub mod room;
pub mod sanitize;
pub mod session;
pub mod sync;
pub mod timeline;

pub use backoff::Backoff;
pub use changes::{Changes, ItemDiff, RoomChanges};
pub use engine::{BackPage, Draft, Engine, RoomEntry};
pub use error::ApiError;
pub use invite::InviteEntry;
pub use media::{Media, MediaDraft, MediaKind, Mxc};
pub use requests::NewRoom;
pub use room::Room;
pub use session::Session;
pub use timeline::{ItemKind, Outline, Reaction, SendState, TimelineItem};

/// A request ready to hand to an HTTP client.
pub type HttpRequest = http::Request<Vec<u8>>;

/// A response as received from an HTTP client, borrowed for parsing.
pub type HttpResponse<'a> = http::Response<&'a [u8]>;
