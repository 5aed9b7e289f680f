//! The room panel behind "Room settings" (beside the timeline on desktop, a full-screen
//! sheet on phones): name and topic (editable by those allowed), turning on encryption,
//! "Invite user", the member list with power levels, "Verified", "Verify NAME" and
//! "Remove", and "Leave room".
//!
//! The panel is a separate wasm chunk (like calls): only [`settings_panel`] is reachable
//! from the main module, and the browser fetches the rest the first time the panel opens.

use leptos::{ev::SubmitEvent, html, prelude::*, task::spawn_local};
use ruma::OwnedRoomId;

use crate::{
    calls::ChunkError,
    components::{
        attach::FileButton,
        avatar::Avatar,
        icon::{Icon, icon},
        invite_form::InviteForm,
        verified_badge::VerifiedBadge,
    },
    error::OrLog,
    handle::{ClientHandle, RoomSnapshot},
    platform::{document, files::LocalFile},
    popup::{self, Kind, popup},
    reactive::{dyn_show, dyn_view, lazy_view, status_line},
};

/// The panel: its heading and "Close" at once, the rest once its chunk is fetched. A chunk
/// that cannot be fetched (offline, a deploy replaced it) shows an error instead. Opening
/// moves focus to the heading, so that keyboard and screen reader users land in the panel.
pub fn settings_panel(
    room_id: OwnedRoomId,
    snapshot: Memo<Option<RoomSnapshot>>,
    close: Callback<()>,
) -> AnyView {
    let heading = NodeRef::<html::H2>::new();
    heading.on_load(|heading| document::focus(&heading));
    view! {
        // Escape closes it, after whatever sits above it (the media viewer, a menu).
        <section class="room-settings" aria-label="Room settings" use:popup=(Kind::Panel, popup::close(move || close.run(())))>
            <div class="panel-head">
                <h2 tabindex="-1" node_ref=heading>"Room settings"</h2>
                <button class="icon-button" aria-label="Close" title="Close" on:click=move |_| close.run(())>
                    {icon(Icon::Close)}
                </button>
            </div>
            {lazy_view(Box::pin(panel(room_id, snapshot)), "Room settings")}
        </section>
    }
    .into_any()
}

#[leptos::wasm_split::wasm_split(settings, wasm_split_path = ::leptos::wasm_split, fallible)]
fn panel(
    room_id: OwnedRoomId,
    snapshot: Memo<Option<RoomSnapshot>>,
) -> Result<AnyView, ChunkError> {
    Ok(view! { <RoomSettings room_id snapshot /> }.into_any())
}

fn role(power: i64) -> Option<&'static str> {
    match power {
        i64::MAX => Some("Owner"),
        100.. => Some("Admin"),
        50..=99 => Some("Moderator"),
        _ => None,
    }
}

#[component]
pub fn RoomSettings(room_id: OwnedRoomId, snapshot: Memo<Option<RoomSnapshot>>) -> impl IntoView {
    let handle = ClientHandle::expect();
    let read = move |f: fn(&RoomSnapshot) -> String| {
        snapshot.with_untracked(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let name = RwSignal::new(read(|r| r.name.clone()));
    let topic = RwSignal::new(read(|r| r.topic.clone().unwrap_or_default()));
    let flag =
        move |f: fn(&RoomSnapshot) -> bool| move || snapshot.with(|r| r.as_ref().is_some_and(f));
    let status = RwSignal::new(None::<Result<&'static str, String>>);

    // Lazy loading only told us who spoke; fetch everyone for the list.
    {
        let room_id = room_id.clone();
        spawn_local(async move {
            // Without it the list shows who spoke; nothing to tell the reader.
            handle.load_members(room_id).await.or_log("member list");
        });
    }

    let save = {
        let room_id = room_id.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let (old_name, old_topic) = (
                read(|r| r.name.clone()),
                read(|r| r.topic.clone().unwrap_or_default()),
            );
            let new_name = Some(name.get_untracked())
                .filter(|n| *n != old_name && flag(|r| r.can_edit_name)());
            let new_topic = Some(topic.get_untracked())
                .filter(|t| *t != old_topic && flag(|r| r.can_edit_topic)());
            let room_id = room_id.clone();
            spawn_local(async move {
                let result = handle
                    .save_room_settings(room_id, new_name, new_topic)
                    .await;
                status.set(Some(result.map(|()| "Saved").map_err(|e| e.to_string())));
            });
        }
    };
    let leave = {
        let room_id = room_id.clone();
        move |_| {
            let room_id = room_id.clone();
            spawn_local(async move {
                if let Err(error) = handle.leave(room_id).await {
                    status.set(Some(Err(error.to_string())));
                }
            });
        }
    };
    // Memos: the list re-renders only when members, powers or our rights change.
    let members = Memo::new(move |_| {
        snapshot.with(|r| r.as_ref().map(|r| r.members.clone()).unwrap_or_default())
    });
    let own_power = Memo::new(move |_| snapshot.with(|r| r.as_ref().map_or(0, |r| r.own_power)));
    let can_kick = Memo::new(move |_| flag(|r| r.can_kick)());
    let own_user = handle.user_id_untracked();
    let encrypted = Memo::new(move |_| flag(|r| r.encrypted)());
    let can_encrypt = Memo::new(move |_| flag(|r| r.can_encrypt)());
    // Checked at once while the state event goes out; unchecked again if it fails.
    let encrypting = RwSignal::new(false);
    let encrypt = {
        let room_id = room_id.clone();
        move |ev| {
            if !event_target_checked(&ev) || encrypted.get_untracked() {
                return;
            }
            encrypting.set(true);
            let room_id = room_id.clone();
            spawn_local(async move {
                if let Err(error) = handle.enable_encryption(room_id).await {
                    encrypting.set(false);
                    status.set(Some(Err(error.to_string())));
                }
            });
        }
    };

    view! {
        <div class="settings-body">
            <form class="settings-form" on:submit=save>
                <label for="room-settings-name">"Room name"</label>
                <input id="room-settings-name" type="text" bind:value=name disabled=move || !flag(|r| r.can_edit_name)() />
                <label for="room-settings-topic">"Topic"</label>
                <input id="room-settings-topic" type="text" bind:value=topic disabled=move || !flag(|r| r.can_edit_topic)() />
                <div class="actions">
                    <button type="submit" class="primary" disabled=move || !flag(|r| r.can_edit_name || r.can_edit_topic)()>
                        "Save"
                    </button>
                    {
                        let room_id = room_id.clone();
                        view! {
                            <FileButton label="Change room avatar" class="" on_files=Callback::new(move |files: Vec<LocalFile>| {
                                if let Some(file) = files.into_iter().next() { handle.set_avatar(Some(room_id.clone()), file) }
                            })>
                                "Change room avatar"
                            </FileButton>
                        }
                    }
                    <button type="button" class="danger" on:click=leave>"Leave room"</button>
                </div>
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || encrypted.get() || encrypting.get()
                        disabled=move || encrypted.get() || encrypting.get() || !can_encrypt.get()
                        on:change=encrypt
                    />
                    "Encrypted"
                </label>
                {dyn_show(move || !encrypted.get(), || view! {
                    <p class="hint">"Once on, encryption can't be turned off."</p>
                }.into_any())}
                {status_line(status)}
            </form>
            <h3 class="section-title">"Members"</h3>
            <InviteForm room_id=room_id.clone() />
            <ul class="members" aria-label="Members">
                // Re-rendered whole on change: cheaper in wasm size than a keyed <For>.
                {dyn_view(move || {
                    let room_id = room_id.clone();
                    let own_user = own_user.clone();
                    members.get().into_iter().map(move |member| {
                        let removable = can_kick.get()
                            && member.power < own_power.get()
                            && own_user.as_ref() != Some(&member.user_id);
                        let (room_id, user_id) = (room_id.clone(), member.user_id.clone());
                        let verifiable = !member.verified
                            && !member.invited
                            && own_user.as_ref() != Some(&member.user_id);
                        let verify_user = member.user_id.clone();
                        view! {
                            <li class="member">
                                <Avatar name=member.name.clone() user_id=member.user_id.to_string() small=true picture=member.avatar.clone() />
                                <span class="member-name" title=member.user_id.to_string()>{member.name.clone()}</span>
                                {member.verified.then(|| view! { <VerifiedBadge /> })}
                                {role(member.power).map(|r| view! { <span class="role">{r}</span> })}
                                {member.invited.then(|| view! { <span class="role">"Invited"</span> })}
                                {verifiable.then(|| view! {
                                    <button
                                        class="small"
                                        aria-label=format!("Verify {}", member.name)
                                        on:click=move |_| {
                                            if let Err(error) = handle.start_verification(&verify_user) {
                                                status.set(Some(Err(error.to_string())));
                                            }
                                        }
                                    >
                                        "Verify"
                                    </button>
                                })}
                                {removable.then(|| view! {
                                    <button
                                        class="small danger"
                                        aria-label=format!("Remove {}", member.name)
                                        on:click=move |_| {
                                            let (room_id, user_id) = (room_id.clone(), user_id.clone());
                                            spawn_local(async move {
                                                if let Err(error) = handle.kick(room_id, user_id).await {
                                                    status.set(Some(Err(error.to_string())));
                                                }
                                            });
                                        }
                                    >
                                        "Remove"
                                    </button>
                                })}
                            </li>
                        }
                    }).collect_view().into_any()
                })}
            </ul>
        </div>
    }
}
