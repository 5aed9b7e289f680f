//! The server-default push rules.
//!
//! ruma's defaults follow Matrix 1.7 and leave out the three legacy mention rules
//! (`.m.rule.contains_display_name`, `.m.rule.roomnotif`, `.m.rule.contains_user_name`).
//! The spec deprecates them but still lists them among the defaults, and Synapse still
//! has them. Without them a message that names you but carries no `m.mentions` (older
//! clients, many bots and bridges) would not highlight. They never apply to an event
//! that has `m.mentions` (ruma's evaluator skips them then), so intentional mentions
//! stay in charge.

use ruma::{
    UserId,
    power_levels::NotificationPowerLevelsKey,
    push::{
        Action, ConditionalPushRule, ConditionalPushRuleInit, EventMatchConditionData,
        HighlightTweakValue, PatternedPushRule, PatternedPushRuleInit, PushCondition, Ruleset,
        SenderNotificationPermissionConditionData, SoundTweakValue, Tweak,
    },
};

/// The defaults a user starts with, and that stored rules are brought up to date with.
#[expect(
    deprecated,
    reason = "the legacy mention condition is deprecated, and still a default rule"
)]
pub(crate) fn server_default(user_id: &UserId) -> Ruleset {
    let mut rules = Ruleset::server_default(user_id);
    // In the spec's order: each right after its `m.mentions` counterpart.
    let mut override_: Vec<ConditionalPushRule> = rules.override_.into_iter().collect();
    insert_after(
        &mut override_,
        ".m.rule.is_user_mention",
        legacy_rule(
            ".m.rule.contains_display_name",
            vec![PushCondition::ContainsDisplayName],
            highlight_with_sound(),
        ),
    );
    insert_after(
        &mut override_,
        ".m.rule.is_room_mention",
        legacy_rule(
            ".m.rule.roomnotif",
            vec![
                PushCondition::EventMatch(EventMatchConditionData::new(
                    "content.body".to_owned(),
                    "@room".to_owned(),
                )),
                PushCondition::SenderNotificationPermission(
                    SenderNotificationPermissionConditionData::new(
                        NotificationPowerLevelsKey::Room,
                    ),
                ),
            ],
            vec![Action::Notify, highlight()],
        ),
    );
    rules.override_ = override_.into_iter().collect();
    let user_name: PatternedPushRule = PatternedPushRuleInit {
        actions: highlight_with_sound(),
        default: true,
        enabled: true,
        rule_id: ".m.rule.contains_user_name".to_owned(),
        pattern: user_id.localpart().to_owned(),
    }
    .into();
    rules.content.insert(user_name);
    rules
}

fn legacy_rule(
    id: &str,
    conditions: Vec<PushCondition>,
    actions: Vec<Action>,
) -> ConditionalPushRule {
    ConditionalPushRuleInit {
        actions,
        default: true,
        enabled: true,
        rule_id: id.to_owned(),
        conditions,
    }
    .into()
}

fn highlight_with_sound() -> Vec<Action> {
    vec![
        Action::Notify,
        Action::SetTweak(Tweak::Sound(SoundTweakValue::Default)),
        highlight(),
    ]
}

fn highlight() -> Action {
    Action::SetTweak(Tweak::Highlight(HighlightTweakValue::Yes))
}

/// Puts `rule` right after the rule `after` (at the end if there is none).
fn insert_after(rules: &mut Vec<ConditionalPushRule>, after: &str, rule: ConditionalPushRule) {
    let at = rules
        .iter()
        .position(|r| r.rule_id == after)
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, rule);
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;

    #[test]
    fn the_legacy_mention_rules_sit_in_the_spec_order() {
        let rules = server_default(user_id!("@alice:hs"));
        let ids: Vec<&str> = rules.override_.iter().map(|r| r.rule_id.as_str()).collect();
        let at = |id: &str| ids.iter().position(|i| *i == id).unwrap();
        assert_eq!(
            at(".m.rule.contains_display_name"),
            at(".m.rule.is_user_mention") + 1
        );
        assert_eq!(at(".m.rule.roomnotif"), at(".m.rule.is_room_mention") + 1);
        let content: Vec<(&str, &str)> = rules
            .content
            .iter()
            .map(|r| (r.rule_id.as_str(), r.pattern.as_str()))
            .collect();
        assert_eq!(content, [(".m.rule.contains_user_name", "alice")]);
    }
}
