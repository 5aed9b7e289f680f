//! UI components, one per file. They read state from and send actions to
//! [`crate::ClientHandle`]; none of them does I/O.

pub mod account_menu;
pub mod composer;
pub mod connection_status;
pub mod invite_card;
pub mod invite_form;
pub mod login;
pub mod new_room;
pub mod room_list;
pub mod room_view;
pub mod timeline;
