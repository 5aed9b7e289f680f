//! UI components, one per file. They read state from and send actions to
//! [`crate::ClientHandle`]; none of them does I/O.

pub mod account_menu;
pub mod attach;
pub mod avatar;
pub mod call_buttons;
pub mod call_host;
pub mod composer;
pub mod connection_status;
pub mod icon;
pub mod invite_card;
pub mod invite_form;
pub mod login;
pub mod media_view;
pub mod message_body;
pub mod new_room;
pub mod reactions;
pub mod room_header;
pub mod room_list;
pub mod room_row;
pub mod room_search;
pub mod room_settings;
pub mod room_view;
pub mod security_panel;
pub mod timeline;
pub mod timeline_item;
pub mod uploads;
pub mod verification_dialog;
pub mod verification_host;
pub mod verified_badge;
