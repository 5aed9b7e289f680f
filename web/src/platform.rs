//! Everything that touches the browser. Nothing outside this module uses `web-sys` or `js-sys`.

pub mod clipboard;
pub mod clock;
pub mod crypto_store;
pub mod dismiss;
pub mod document;
pub mod file_crypto;
pub mod files;
pub mod html;
pub mod idb;
pub mod keys;
pub mod location;
pub mod locks;
pub mod net;
pub mod notify;
pub mod panic;
pub mod probe;
pub mod random;
pub mod seal;
pub mod sound;
pub mod storage;
pub mod timer;
pub mod upload;
pub mod wake;
pub mod webrtc;
