//! A dry run of a new room's first events, so a createRoom that would fail part-way
//! (a power-level override that locks the creator out, content that is not canonical JSON,
//! an invite the auth rules refuse) fails before anything is stored.
//!
//! It builds and signs each event as `Appender::append` would and runs the same
//! authorization rules against the state the earlier events make, all in memory.

use std::{collections::HashMap, sync::Arc};

use ruma::{
    EventId, OwnedEventId, OwnedUserId, RoomAliasId, RoomId, RoomVersionId, events::StateEventType,
    events::TimelineEventType, state_res,
};

use super::{
    appender::{EventSpec, auth_events_for, auth_failed},
    now,
    pdu::{Pdu, PduTemplate, build_signed},
    rooms::Rooms,
};
use crate::error::{Error, Result};

impl Rooms {
    /// Checks that `events`, appended in order to a new room, would all be accepted.
    /// `alias` is the alias createRoom is about to give the room.
    pub(super) fn rehearse_new_room(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        alias: Option<&RoomAliasId>,
        events: &[(&OwnedUserId, &EventSpec)],
    ) -> Result<()> {
        let rules = version
            .rules()
            .ok_or_else(|| Error::internal("room version without rules"))?;
        let mut state: HashMap<(String, String), OwnedEventId> = HashMap::new();
        let mut pdus: HashMap<OwnedEventId, Arc<Pdu>> = HashMap::new();
        let mut head: Option<OwnedEventId> = None;
        for (depth, (sender, spec)) in (1u64..).zip(events) {
            if spec.kind == TimelineEventType::RoomCanonicalAlias && spec.state_key.is_some() {
                self.directory
                    .check_canonical_alias(room_id, &spec.content, alias)?;
            }
            let auth_events = auth_events_for(spec, sender, &rules, &state)?;
            let (event_id, _, pdu) = build_signed(
                PduTemplate {
                    room_id,
                    sender,
                    kind: &spec.kind,
                    state_key: spec.state_key.as_deref(),
                    content: &spec.content,
                    prev_events: head.iter().cloned().collect(),
                    auth_events,
                    depth,
                    origin_server_ts: now(),
                },
                self.server_name.as_str(),
                self.appender.signing_key(),
                &rules,
            )?;
            let load = |id: &EventId| pdus.get(id).cloned();
            state_res::check_state_independent_auth_rules(&rules.authorization, &pdu, load)
                .map_err(auth_failed)?;
            state_res::check_state_dependent_auth_rules(
                &rules.authorization,
                &pdu,
                |t: &StateEventType, k: &str| {
                    state
                        .get(&(t.to_string(), k.to_owned()))
                        .and_then(|id| load(id))
                },
            )
            .map_err(auth_failed)?;
            if let Some(state_key) = &spec.state_key {
                state.insert((spec.kind.to_string(), state_key.clone()), event_id.clone());
            }
            pdus.insert(event_id.clone(), Arc::new(pdu));
            head = Some(event_id);
        }
        Ok(())
    }
}
