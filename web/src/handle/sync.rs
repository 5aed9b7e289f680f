//! The `/sync` task: one initial sync, then long-polling until the session ends.

use leptos::task::spawn_local;
use weft_client::{ApiError, Backoff};

use super::{ClientHandle, Connection, as_borrowed, send};
use crate::{error::ActionError, platform::timer::sleep};

/// Starts syncing for the handle's current session.
///
/// The task stops by itself once the session it was started for has ended: every await is
/// followed by a generation check, and ending the session aborts the in-flight request.
pub fn start(handle: ClientHandle) {
    let (generation, abort) = handle.begin_sync();
    spawn_local(async move {
        let mut backoff = Backoff::new();
        while handle.is_current(generation) {
            // The last sync's to-device messages are acknowledged by this request: their
            // keys must be on disk first.
            if let Err(error) = handle.persist_crypto().await {
                if error == ActionError::SignedOut || !handle.is_current(generation) {
                    return;
                }
                handle.set_connection(Connection::Offline);
                sleep(backoff.next_delay()).await;
                continue;
            }
            // The engine has no clock; crypto rate limits (one unwedging per device an hour)
            // and rotation by age read this.
            let now = crate::platform::clock::now();
            handle.note_time(now);
            let Ok((request, homeserver)) = handle.update_engine_quietly(|engine| {
                engine.set_now(now);
                (engine.sync_request(), engine.session().homeserver.clone())
            }) else {
                return;
            };
            let Ok(request) = request else {
                // The session itself is unusable (e.g. a corrupt homeserver URL).
                handle.end_session(Some("Your saved session could not be used".to_owned()));
                return;
            };
            let result = send(&homeserver, request, Some(&abort)).await;
            if !handle.is_current(generation) {
                return;
            }
            let outcome = result.and_then(|response| {
                handle
                    .update_engine(|engine| engine.handle_sync_response(as_borrowed(&response)))?
                    .map_err(ActionError::from)
            });
            let delay = match outcome {
                Ok(()) => {
                    handle.pump_crypto();
                    handle.notify_new_messages();
                    handle.save_state_soon();
                    handle.wake_calls();
                    backoff.reset();
                    handle.set_connection(Connection::Online);
                    continue;
                }
                Err(ActionError::Api(ApiError::UnknownToken)) => {
                    handle.end_session(Some(ApiError::UnknownToken.to_string()));
                    return;
                }
                Err(ActionError::SignedOut) => return,
                Err(ActionError::Api(ApiError::RateLimited {
                    retry_after_ms: Some(ms),
                })) => std::time::Duration::from_millis(ms).max(backoff.next_delay()),
                Err(_) => backoff.next_delay(),
            };
            handle.set_connection(Connection::Offline);
            sleep(delay).await;
        }
    });
}
