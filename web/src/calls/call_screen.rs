//! The call screen, above everything: an incoming call with "Accept", "Accept with
//! video" and "Decline"; an outgoing call while it rings; the call itself with the other
//! side's video, our preview, the timer and connection state, "Mute", "Camera",
//! "Devices" (which microphone and camera) and "Hang up"; and for a moment, how it ended.

use leptos::{html, prelude::*};

use super::{
    manager::Manager,
    screen::{Phase, Screen},
};
use crate::{
    platform::{clock, storage, webrtc},
    popup::{Kind, close, popup},
    reactive::{dyn_show, dyn_text, dyn_view},
};

#[component]
pub fn CallScreen(manager: StoredValue<Manager, LocalStorage>) -> impl IntoView {
    let view = manager.with_value(|m| m.view.clone());
    let (screen, streams) = (view.screen, view.streams);
    let phase = Memo::new(move |_| screen.with(|s| s.as_ref().map(|s| s.phase.clone())));
    let peer_name =
        move || screen.with(|s| s.as_ref().map(|s| s.peer_name.clone()).unwrap_or_default());
    let flag = move |f: fn(&Screen) -> bool| move || screen.with(|s| s.as_ref().is_some_and(f));
    let act = move |f: fn(&Manager)| move |_| manager.with_value(f);

    let remote_ref = NodeRef::<html::Video>::new();
    let local_ref = NodeRef::<html::Video>::new();
    // Streams go into the media elements whenever either changes or the elements appear.
    Effect::new(move |_| {
        streams.track();
        phase.track();
        if let Some(element) = remote_ref.get() {
            view.remote
                .with_value(|stream| webrtc::show(&element, stream.as_ref()));
        }
        if let Some(element) = local_ref.get() {
            view.local
                .with_value(|stream| webrtc::show(&element, stream.as_ref()));
        }
    });

    // The call timer ticks once a second while connected.
    let now = RwSignal::new(clock::now().get().into());
    Effect::new(move |_| {
        if matches!(phase.get(), Some(Phase::Connected { .. })) {
            leptos::task::spawn_local(async move {
                while matches!(phase.get_untracked(), Some(Phase::Connected { .. })) {
                    now.set(u64::from(clock::now().get()));
                    crate::platform::timer::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        }
    });
    let status = move || match phase.get() {
        Some(Phase::Incoming { video: true }) => format!("{} is video calling you", peer_name()),
        Some(Phase::Incoming { video: false }) => format!("{} is calling you", peer_name()),
        Some(Phase::Outgoing) => format!("Calling {}…", peer_name()),
        Some(Phase::Connecting {
            reconnecting: false,
        }) => "Connecting…".to_owned(),
        Some(Phase::Connecting { reconnecting: true }) => "Reconnecting…".to_owned(),
        Some(Phase::Connected { .. }) if flag(|s| s.on_hold)() => "On hold".to_owned(),
        Some(Phase::Connected { .. }) if flag(|s| s.remote_hold)() => {
            format!("{} put the call on hold", peer_name())
        }
        Some(Phase::Connected { since }) => {
            weft_client::media::format_duration(now.get().saturating_sub(since))
        }
        Some(Phase::Ended(text)) => text,
        None => String::new(),
    };
    let in_call = move || {
        matches!(
            phase.get(),
            Some(Phase::Outgoing | Phase::Connecting { .. } | Phase::Connected { .. })
        )
    };

    view! {
        <section
            class="call"
            aria-label="Call"
            hidden=move || phase.with(Option::is_none)
            class:call-ringing=move || matches!(phase.get(), Some(Phase::Incoming { .. }))
        >
            <div class="call-media" hidden=move || !in_call()>
                <video
                    class="call-remote"
                    node_ref=remote_ref
                    autoplay
                    playsinline
                    aria-label=move || format!("{}'s video", peer_name())
                    hidden=move || !flag(Screen::shows_remote_video)()
                ></video>
                <video
                    class="call-local"
                    node_ref=local_ref
                    autoplay
                    playsinline
                    muted
                    aria-label="Your camera"
                    hidden=move || !flag(|s| s.camera)()
                ></video>
            </div>
            <p class="call-peer">{dyn_text(peer_name)}</p>
            <p class="call-status" role="status">{dyn_text(status)}</p>
            <p class="call-remote-muted" hidden=move || !(in_call() && flag(|s| s.remote_muted)())>
                {dyn_text(move || format!("{} is muted", peer_name()))}
            </p>
            {dyn_view(move || match phase.get() {
                Some(Phase::Incoming { .. }) => view! {
                    <div class="call-actions">
                        <button class="accept" on:click=move |_| manager.with_value(|m| m.accept(false))>"Accept"</button>
                        <button class="accept" on:click=move |_| manager.with_value(|m| m.accept(true))>"Accept with video"</button>
                        <button class="hang-up" on:click=act(Manager::decline)>"Decline"</button>
                    </div>
                }
                .into_any(),
                Some(Phase::Outgoing | Phase::Connecting { .. } | Phase::Connected { .. }) => view! {
                    <div class="call-actions">
                        <button aria-pressed=move || flag(|s| s.muted)().to_string() on:click=act(Manager::toggle_mute)>
                            "Mute"
                        </button>
                        <button aria-pressed=move || flag(|s| s.camera)().to_string() on:click=act(Manager::toggle_camera)>
                            "Camera"
                        </button>
                        <button aria-pressed=move || flag(|s| s.on_hold)().to_string() on:click=act(Manager::toggle_hold)>
                            "Hold"
                        </button>
                        <DevicesButton manager />
                        <button class="hang-up" on:click=act(Manager::hang_up)>"Hang up"</button>
                    </div>
                }
                .into_any(),
                _ => ().into_any(),
            })}
        </section>
    }
}

/// The microphones and the cameras.
type DeviceLists = (Vec<webrtc::Device>, Vec<webrtc::Device>);

/// "Devices": which microphone and camera calls use, switched in the call at once.
#[component]
fn DevicesButton(manager: StoredValue<Manager, LocalStorage>) -> impl IntoView {
    let open = RwSignal::new(false);
    let lists: RwSignal<DeviceLists, LocalStorage> = RwSignal::new_local(Default::default());
    let toggle = move |_| {
        let opening = !open.get_untracked();
        open.set(opening);
        if opening {
            leptos::task::spawn_local(async move {
                let found = (
                    webrtc::devices("audioinput").await,
                    webrtc::devices("videoinput").await,
                );
                lists.try_set(found);
            });
        }
    };
    let picker = move |label: &'static str,
                       kind: &'static str,
                       pick: fn(&DeviceLists) -> Vec<webrtc::Device>| {
        let chosen = storage::call_device(kind).unwrap_or_default();
        view! {
            <label class="call-device">
                {label}
                <select on:change=move |ev| manager.with_value(|m| m.switch_device(kind, event_target_value(&ev)))>
                    {move || {
                        lists.with(pick).into_iter().map(|d| {
                            let selected = d.id == chosen;
                            view! { <option value=d.id selected=selected>{d.label}</option> }
                        }).collect::<Vec<_>>()
                    }}
                </select>
            </label>
        }
    };
    view! {
        <button aria-expanded=move || open.get().to_string() on:click=toggle>"Devices"</button>
        {dyn_show(move || open.get(), move || {
            view! {
                <div class="call-devices" role="group" aria-label="Devices"
                    use:popup=(Kind::Menu, close(move || open.set(false)))>
                    {picker("Microphone", "audio", |l| l.0.clone())}
                    {picker("Camera", "video", |l| l.1.clone())}
                </div>
            }.into_any()
        })}
    }
}
