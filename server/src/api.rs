//! The HTTP surface: routes, CORS, and Matrix-shaped errors for unknown
//! endpoints. One file per endpoint area under `api/`.

pub mod account;
pub mod account_data;
pub mod device;
pub mod directory;
pub mod ephemeral;
pub mod key_backup;
pub mod keys;
pub mod media;
pub mod message;
pub mod presence;
pub mod profile;
pub mod push;
pub mod room;
pub mod ruma_wrapper;
pub mod state;
pub mod sync;
pub mod versions;
pub mod voip;

use axum::{
    Router,
    extract::Request,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, Method, StatusCode, header};
use ruma::api::client::{
    account::{change_password, deactivate, get_username_availability, register, whoami},
    alias::{create_alias, delete_alias, get_alias},
    authenticated_media,
    backup::{
        add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
        create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
        delete_backup_keys_for_session, delete_backup_version, get_backup_info, get_backup_keys,
        get_backup_keys_for_room, get_backup_keys_for_session, get_latest_backup_info,
        update_backup_version,
    },
    config::{
        get_global_account_data, get_room_account_data, set_global_account_data,
        set_room_account_data,
    },
    context::get_context,
    device::{delete_device, delete_devices, get_device, get_devices, update_device},
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    discovery::{get_capabilities, get_supported_versions},
    filter::{create_filter, get_filter},
    keys::{
        claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
    },
    media as legacy_media,
    membership::{
        ban_user, forget_room, get_member_events, invite_user, join_room_by_id,
        join_room_by_id_or_alias, joined_members, joined_rooms, kick_user, leave_room, unban_user,
    },
    message::{get_message_events, send_message_event},
    presence::{get_presence, set_presence},
    profile::{get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name},
    push::{
        delete_pushrule, get_pushers, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
        get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
        set_pushrule_enabled,
    },
    read_marker::set_read_marker,
    receipt::create_receipt,
    redact::redact_event,
    relations::{
        get_relating_events, get_relating_events_with_rel_type,
        get_relating_events_with_rel_type_and_event_type,
    },
    room::{aliases, create_room, get_room_event},
    session::{get_login_types, login, logout, logout_all},
    state::{get_state_event_for_key, get_state_events, send_state_event},
    sync::sync_events,
    thirdparty::get_protocols,
    to_device::send_event_to_device,
    typing::create_typing_event,
    user_directory::search_users,
    voip::get_turn_server_info,
};

use self::ruma_wrapper::RumaRouter;
use crate::{
    error::{Error, ErrorKind},
    service::{Services, ratelimit::Action},
    web,
};

/// Builds the whole application: Matrix API, discovery and the web client.
pub fn router(services: Services) -> Router {
    let matrix = Router::new()
        .ruma_route::<get_supported_versions::Request, _, _>(versions::versions)
        .ruma_route::<register::v3::Request, _, _>(account::register)
        .ruma_route::<get_login_types::v3::Request, _, _>(account::login_types)
        .ruma_route::<login::v3::Request, _, _>(account::login)
        .ruma_route::<logout::v3::Request, _, _>(account::logout)
        .ruma_route::<whoami::v3::Request, _, _>(account::whoami)
        .ruma_route::<create_room::v3::Request, _, _>(room::create_room)
        .ruma_route_limited::<invite_user::v3::Request, _, _>(Action::Invite, room::invite)
        .ruma_route_limited::<join_room_by_id::v3::Request, _, _>(Action::Join, room::join)
        .ruma_route_limited::<leave_room::v3::Request, _, _>(Action::State, room::leave)
        .ruma_route::<send_message_event::v3::Request, _, _>(message::send)
        .ruma_route::<sync_events::v3::Request, _, _>(sync::sync)
        .ruma_route::<get_message_events::v3::Request, _, _>(message::messages)
        .ruma_route::<get_room_event::v3::Request, _, _>(message::event)
        .ruma_route::<get_context::v3::Request, _, _>(message::context)
        .ruma_route::<get_relating_events::v1::Request, _, _>(message::relations)
        .ruma_route::<get_relating_events_with_rel_type::v1::Request, _, _>(
            message::relations_by_type,
        )
        .ruma_route::<get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
            message::relations_by_type_and_event_type,
        )
        .ruma_route_limited::<redact_event::v3::Request, _, _>(Action::Redact, message::redact)
        .ruma_route::<get_state_events::v3::Request, _, _>(state::all)
        .ruma_route::<get_state_event_for_key::v3::Request, _, _>(state::one)
        .ruma_route_limited::<send_state_event::v3::Request, _, _>(Action::State, state::set)
        .ruma_route::<get_member_events::v3::Request, _, _>(state::members)
        .ruma_route_limited::<create_typing_event::v3::Request, _, _>(
            Action::Typing,
            ephemeral::typing,
        )
        .ruma_route_limited::<create_receipt::v3::Request, _, _>(
            Action::Receipt,
            ephemeral::receipt,
        )
        .ruma_route_limited::<set_read_marker::v3::Request, _, _>(
            Action::Receipt,
            ephemeral::read_markers,
        )
        .ruma_route_limited::<kick_user::v3::Request, _, _>(Action::State, room::kick)
        .ruma_route_limited::<ban_user::v3::Request, _, _>(Action::State, room::ban)
        .ruma_route_limited::<unban_user::v3::Request, _, _>(Action::State, room::unban)
        .ruma_route_limited::<forget_room::v3::Request, _, _>(Action::OtherWrite, room::forget)
        .ruma_route::<logout_all::v3::Request, _, _>(account::logout_all)
        .ruma_route::<get_username_availability::v3::Request, _, _>(account::username_available)
        .ruma_route::<get_protocols::v3::Request, _, _>(versions::protocols)
        .ruma_route::<get_devices::v3::Request, _, _>(device::list)
        .ruma_route::<get_device::v3::Request, _, _>(device::get)
        .ruma_route_limited::<update_device::v3::Request, _, _>(Action::OtherWrite, device::rename)
        .ruma_route_limited::<delete_device::v3::Request, _, _>(Action::OtherWrite, device::delete)
        .ruma_route_limited::<delete_devices::v3::Request, _, _>(
            Action::OtherWrite,
            device::delete_many,
        )
        .ruma_route_limited::<change_password::v3::Request, _, _>(
            Action::OtherWrite,
            account::password,
        )
        .ruma_route_limited::<deactivate::v3::Request, _, _>(
            Action::OtherWrite,
            account::deactivate,
        )
        .ruma_route_limited::<upload_keys::v3::Request, _, _>(Action::KeyUpload, keys::upload)
        .ruma_route::<get_keys::v3::Request, _, _>(keys::query)
        .ruma_route::<claim_keys::v3::Request, _, _>(keys::claim)
        .ruma_route::<get_key_changes::v3::Request, _, _>(keys::changes)
        .ruma_route_limited::<send_event_to_device::v3::Request, _, _>(
            Action::ToDevice,
            keys::send_to_device,
        )
        .ruma_route_limited::<upload_signing_keys::v3::Request, _, _>(
            Action::KeyUpload,
            keys::upload_signing_keys,
        )
        .ruma_route_limited::<upload_signatures::v3::Request, _, _>(
            Action::KeyUpload,
            keys::upload_signatures,
        )
        .ruma_route_limited::<create_backup_version::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::create_version,
        )
        .ruma_route::<get_latest_backup_info::v3::Request, _, _>(key_backup::latest_version)
        .ruma_route::<get_backup_info::v3::Request, _, _>(key_backup::version)
        .ruma_route_limited::<update_backup_version::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::update_version,
        )
        .ruma_route_limited::<delete_backup_version::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::delete_version,
        )
        .ruma_route_limited::<add_backup_keys::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::put_keys,
        )
        .ruma_route_limited::<add_backup_keys_for_room::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::put_room_keys,
        )
        .ruma_route_limited::<add_backup_keys_for_session::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::put_session_key,
        )
        .ruma_route::<get_backup_keys::v3::Request, _, _>(key_backup::get_keys)
        .ruma_route::<get_backup_keys_for_room::v3::Request, _, _>(key_backup::get_room_keys)
        .ruma_route::<get_backup_keys_for_session::v3::Request, _, _>(key_backup::get_session_key)
        .ruma_route_limited::<delete_backup_keys::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::delete_keys,
        )
        .ruma_route_limited::<delete_backup_keys_for_room::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::delete_room_keys,
        )
        .ruma_route_limited::<delete_backup_keys_for_session::v3::Request, _, _>(
            Action::KeyUpload,
            key_backup::delete_session_key,
        )
        .ruma_route_limited::<create_alias::v3::Request, _, _>(
            Action::OtherWrite,
            directory::set_alias,
        )
        .ruma_route::<get_alias::v3::Request, _, _>(directory::get_alias)
        .ruma_route_limited::<delete_alias::v3::Request, _, _>(
            Action::OtherWrite,
            directory::delete_alias,
        )
        .ruma_route::<aliases::v3::Request, _, _>(directory::room_aliases)
        .ruma_route_limited::<set_room_visibility::v3::Request, _, _>(
            Action::OtherWrite,
            directory::set_visibility,
        )
        .ruma_route::<get_room_visibility::v3::Request, _, _>(directory::get_visibility)
        .ruma_route::<get_public_rooms::v3::Request, _, _>(directory::public_rooms)
        .ruma_route::<get_public_rooms_filtered::v3::Request, _, _>(
            directory::public_rooms_filtered,
        )
        .ruma_route::<search_users::v3::Request, _, _>(directory::search)
        .ruma_route_limited::<join_room_by_id_or_alias::v3::Request, _, _>(
            Action::Join,
            room::join_by_id_or_alias,
        )
        .ruma_route_limited::<set_presence::v3::Request, _, _>(Action::OtherWrite, presence::set)
        .ruma_route::<get_presence::v3::Request, _, _>(presence::get)
        .ruma_route::<get_capabilities::v3::Request, _, _>(versions::capabilities)
        .ruma_route::<joined_rooms::v3::Request, _, _>(room::joined_rooms)
        .ruma_route::<joined_members::v3::Request, _, _>(room::joined_members)
        .ruma_route_limited::<set_global_account_data::v3::Request, _, _>(
            Action::OtherWrite,
            account_data::set_global,
        )
        .ruma_route::<get_global_account_data::v3::Request, _, _>(account_data::get_global)
        .ruma_route_limited::<set_room_account_data::v3::Request, _, _>(
            Action::OtherWrite,
            account_data::set_room,
        )
        .ruma_route::<get_room_account_data::v3::Request, _, _>(account_data::get_room)
        .ruma_route_limited::<create_filter::v3::Request, _, _>(
            Action::OtherWrite,
            account_data::create,
        )
        .ruma_route::<get_filter::v3::Request, _, _>(account_data::get)
        .ruma_route::<get_pushrules_all::v3::Request, _, _>(account_data::push_rules)
        .ruma_route::<get_pushrules_global_scope::v3::Request, _, _>(
            account_data::push_rules_global,
        )
        .ruma_route::<get_pushers::v3::Request, _, _>(account_data::pushers)
        .ruma_route::<get_pushrule::v3::Request, _, _>(push::get)
        .ruma_route_limited::<set_pushrule::v3::Request, _, _>(Action::OtherWrite, push::set)
        .ruma_route_limited::<delete_pushrule::v3::Request, _, _>(Action::OtherWrite, push::delete)
        .ruma_route::<get_pushrule_enabled::v3::Request, _, _>(push::get_enabled)
        .ruma_route_limited::<set_pushrule_enabled::v3::Request, _, _>(
            Action::OtherWrite,
            push::set_enabled,
        )
        .ruma_route::<get_pushrule_actions::v3::Request, _, _>(push::get_actions)
        .ruma_route_limited::<set_pushrule_actions::v3::Request, _, _>(
            Action::OtherWrite,
            push::set_actions,
        )
        .ruma_route::<get_profile::v3::Request, _, _>(profile::get)
        .ruma_route::<get_display_name::v3::Request, _, _>(profile::get_displayname)
        .ruma_route_limited::<set_display_name::v3::Request, _, _>(
            Action::Profile,
            profile::set_displayname,
        )
        .ruma_route::<get_avatar_url::v3::Request, _, _>(profile::get_avatar)
        .ruma_route_limited::<set_avatar_url::v3::Request, _, _>(
            Action::Profile,
            profile::set_avatar,
        )
        .ruma_route::<legacy_media::create_content::v3::Request, _, _>(media::upload)
        .ruma_route::<legacy_media::create_mxc_uri::v1::Request, _, _>(media::create)
        .ruma_route::<legacy_media::create_content_async::v3::Request, _, _>(media::upload_to)
        .ruma_route::<authenticated_media::get_media_config::v1::Request, _, _>(media::config)
        .ruma_route::<authenticated_media::get_content::v1::Request, _, _>(media::download)
        .ruma_route::<authenticated_media::get_content_as_filename::v1::Request, _, _>(
            media::download_as,
        )
        .ruma_route::<authenticated_media::get_content_thumbnail::v1::Request, _, _>(
            media::thumbnail,
        )
        .ruma_route::<get_turn_server_info::v3::Request, _, _>(voip::turn_server)
        .route("/.well-known/matrix/client", get(versions::well_known))
        .route("/_matrix/{*rest}", axum::routing::any(unrecognized));

    frozen_media(matrix)
        .fallback(web::serve_client)
        .with_state(services)
        .layer(middleware::from_fn(matrix_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(cors))
}

/// The unauthenticated media endpoints, frozen since spec v1.11: registered only to
/// answer them with a clear 404 `M_NOT_FOUND` (ruma marks them deprecated, hence the allow).
#[allow(deprecated)]
fn frozen_media(router: Router<Services>) -> Router<Services> {
    router
        .ruma_route::<legacy_media::get_content::v3::Request, _, _>(media::legacy)
        .ruma_route::<legacy_media::get_content_as_filename::v3::Request, _, _>(media::legacy)
        .ruma_route::<legacy_media::get_content_thumbnail::v3::Request, _, _>(media::legacy)
}

/// A handler that panics answers 500 `M_UNKNOWN` instead of dropping the
/// connection; the panic itself is logged by the panic hook.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::internal("handler panicked").into_response()
}

async fn unrecognized() -> Error {
    Error::new(ErrorKind::Unrecognized, "Unrecognized request")
}

/// Answers `OPTIONS` everywhere without running endpoint logic and adds the
/// CORS headers the spec asks for to every response.
async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, Content-Type, Authorization"),
    );
    response
}

/// A known path with the wrong method gets `405 M_UNRECOGNIZED`, as clients
/// probe for features that way; axum's own 405 has no body.
async fn matrix_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return Error::with_status(
            ErrorKind::Unrecognized,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        )
        .into_response();
    }
    response
}
